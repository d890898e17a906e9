//! Input checks shared by the handlers; none of them mutates.

use crate::ids::EntityKind;
use crate::rejection::Rejection;
use std::collections::BTreeMap;

/// Longest accepted name or address.
pub(crate) const MAX_NAME_LEN: usize = 128;
/// Longest accepted free text (comments, keys).
pub(crate) const MAX_TEXT_LEN: usize = 16 * 1024;

/// A non-empty, trimmed-nonblank name of bounded length without control characters.
pub(crate) fn name(field: &str, value: &str) -> Result<(), Rejection> {
    if value.trim().is_empty() {
        return Err(Rejection::invalid(field, "must not be empty"));
    }
    if value.len() > MAX_NAME_LEN {
        return Err(Rejection::invalid(
            field,
            format!("longer than {MAX_NAME_LEN} bytes"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Rejection::invalid(field, "contains control characters"));
    }
    Ok(())
}

/// Free text of bounded length.
pub(crate) fn text(field: &str, value: &str) -> Result<(), Rejection> {
    if value.len() > MAX_TEXT_LEN {
        return Err(Rejection::invalid(
            field,
            format!("longer than {MAX_TEXT_LEN} bytes"),
        ));
    }
    Ok(())
}

/// A non-zero port.
pub(crate) fn port(field: &str, value: u16) -> Result<(), Rejection> {
    if value == 0 {
        return Err(Rejection::invalid(
            field,
            "port must be between 1 and 65535",
        ));
    }
    Ok(())
}

/// Looks an entity up or names what is missing.
pub(crate) fn found<M: ById + ?Sized>(
    map: &M,
    kind: EntityKind,
    id: u64,
) -> Result<&M::Value, Rejection> {
    map.by_id(id).ok_or(Rejection::NotFound { kind, id })
}

/// A collection of entities by id: a `BTreeMap` or a [`super::Shared`] map.
pub(crate) trait ById {
    type Value;
    fn by_id(&self, id: u64) -> Option<&Self::Value>;
}

impl<T> ById for BTreeMap<u64, T> {
    type Value = T;
    fn by_id(&self, id: u64) -> Option<&T> {
        self.get(&id)
    }
}

impl<T: Clone> ById for super::Shared<u64, T> {
    type Value = T;
    fn by_id(&self, id: u64) -> Option<&T> {
        self.get(&id)
    }
}

/// Fails when every id of `ids` is not present in `map`.
pub(crate) fn all_found<'a, M: ById + ?Sized>(
    map: &M,
    kind: EntityKind,
    ids: impl IntoIterator<Item = &'a u64>,
) -> Result<(), Rejection> {
    for id in ids {
        found(map, kind, *id)?;
    }
    Ok(())
}

/// Fails when `holder`, the entity an index says carries `name`, is another than `except`.
pub(crate) fn unique_in(
    kind: EntityKind,
    name: &str,
    except: Option<u64>,
    holder: Option<u64>,
) -> Result<(), Rejection> {
    match holder {
        Some(id) if Some(id) != except => Err(Rejection::AlreadyExists {
            kind,
            name: name.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Fails when another entity (not `except`) already carries `name`.
pub(crate) fn unique<'a>(
    kind: EntityKind,
    name: &str,
    except: Option<u64>,
    existing: impl IntoIterator<Item = (u64, &'a str)>,
) -> Result<(), Rejection> {
    let clash = existing
        .into_iter()
        .any(|(id, n)| n == name && Some(id) != except);
    if clash {
        return Err(Rejection::AlreadyExists {
            kind,
            name: name.to_string(),
        });
    }
    Ok(())
}
