//! Request parameters: query string and form body merged, with typed getters that name the
//! parameter in every error. Lists arrive as the SDK encodes them: JSON array strings
//! (`HostIds=["1","2"]`) or flattened (`ResourceId.1`, `Tag.1.Key`).

use super::error::ApiError;
use std::collections::BTreeMap;

/// PageSize when the caller gives none, and the largest accepted.
pub const DEFAULT_PAGE_SIZE: usize = 20;
pub const MAX_PAGE_SIZE: usize = 100;

/// The parameters of one call.
#[derive(Clone, Debug, Default)]
pub struct Params {
    values: BTreeMap<String, String>,
    /// In test builds, every name a getter was asked for (see [`Params::names_read`]): the
    /// declared-parameter accounting checks that handlers read what their actions declare.
    #[cfg(test)]
    read: std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
}

impl Params {
    /// Adds decoded pairs; a name given twice is an error.
    pub fn extend(
        &mut self,
        pairs: impl Iterator<Item = (String, String)>,
    ) -> Result<(), ApiError> {
        for (k, v) in pairs {
            if self.values.contains_key(&k) {
                return Err(ApiError::invalid(&k, "given more than once"));
            }
            self.values.insert(k, v);
        }
        Ok(())
    }

    /// Every parameter, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The raw value, if present. Every typed getter comes through here (or through
    /// [`Params::indexed_objects`]).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.note_read(name);
        self.values.get(name).map(String::as_str)
    }

    #[cfg(test)]
    fn note_read(&self, name: &str) {
        if let Ok(mut read) = self.read.lock() {
            read.insert(name.to_string());
        }
    }

    #[cfg(not(test))]
    fn note_read(&self, _name: &str) {}

    /// The names asked for so far, by this value and its clones (test builds only).
    #[cfg(test)]
    pub fn names_read(&self) -> std::collections::BTreeSet<String> {
        match self.read.lock() {
            Ok(read) => read.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// A present, non-empty value.
    pub fn opt(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// Refuses a parameter whose meaning Portunus does not keep, unless it is absent, empty or
    /// one of `accepted` (the values that ask for nothing more than Portunus does, compared
    /// ignoring case): `why` names the parameter and says why.
    pub fn only(&self, name: &str, accepted: &[&str], why: &'static str) -> Result<(), ApiError> {
        match self.opt(name).map(str::trim) {
            Some(v) if !accepted.iter().any(|a| a.eq_ignore_ascii_case(v)) => {
                Err(ApiError::Inapplicable(why))
            }
            _ => Ok(()),
        }
    }

    /// For lists that always fit on one page (their answer's NextToken is empty): a
    /// `NextToken` given is not one a previous page answered.
    pub fn no_next_token(&self) -> Result<(), ApiError> {
        match self.opt("NextToken") {
            Some(_) => Err(ApiError::invalid(
                "NextToken",
                "is not a token a previous page answered (this list fits on one page)",
            )),
            None => Ok(()),
        }
    }

    /// A required, non-empty string.
    pub fn req(&self, name: &'static str) -> Result<&str, ApiError> {
        self.opt(name).ok_or(ApiError::MissingParameter(name))
    }

    /// An optional owned string.
    pub fn string(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_string)
    }

    /// A required numeric id (sent as a string).
    pub fn id(&self, name: &'static str) -> Result<u64, ApiError> {
        parse_id(name, self.req(name)?)
    }

    /// An optional numeric id.
    pub fn opt_id(&self, name: &str) -> Result<Option<u64>, ApiError> {
        self.opt(name).map(|v| parse_id(name, v)).transpose()
    }

    /// An optional number of any integer type.
    pub fn num<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, ApiError> {
        self.opt(name)
            .map(|v| {
                v.trim()
                    .parse()
                    .map_err(|_| ApiError::invalid(name, "expected an integer in range"))
            })
            .transpose()
    }

    /// An optional boolean (`true`/`false`, any case, as Python's `str(bool)` sends it).
    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.opt(name).map(|v| parse_bool(name, v)).transpose()
    }

    /// A JSON array of ids (`["1","2"]` or `[1,2]`); required.
    pub fn id_list(&self, name: &'static str) -> Result<Vec<u64>, ApiError> {
        let values = self.json_list(name)?;
        values.iter().map(|v| json_id(name, v)).collect()
    }

    /// Ids given as the official SDK sends a list (`Name.1=4&Name.2=7`) or as a JSON array
    /// (`Name=["4","7"]`); required: at least one.
    pub fn id_list_or_indexed(&self, name: &'static str) -> Result<Vec<u64>, ApiError> {
        let flat = self.indexed(name)?;
        if flat.is_empty() {
            return self.id_list(name);
        }
        if self.get(name).is_some_and(|v| !v.is_empty()) {
            return Err(ApiError::invalid(
                name,
                "give the ids either as Name.N or as one JSON array, not both",
            ));
        }
        flat.iter().map(|v| parse_id(name, v)).collect()
    }

    /// A JSON array of strings; required.
    pub fn str_list(&self, name: &'static str) -> Result<Vec<String>, ApiError> {
        let values = self.json_list(name)?;
        values
            .iter()
            .map(|v| match v {
                serde_json::Value::String(s) => Ok(s.clone()),
                _ => Err(ApiError::invalid(name, "expected an array of strings")),
            })
            .collect()
    }

    /// A required parameter holding a JSON array.
    pub fn json_list(&self, name: &'static str) -> Result<Vec<serde_json::Value>, ApiError> {
        match self.json(name)? {
            serde_json::Value::Array(a) => Ok(a),
            _ => Err(ApiError::invalid(name, "expected a JSON array")),
        }
    }

    /// A required parameter holding JSON text.
    pub fn json(&self, name: &'static str) -> Result<serde_json::Value, ApiError> {
        serde_json::from_str(self.req(name)?)
            .map_err(|_| ApiError::invalid(name, "expected JSON text"))
    }

    /// Flattened list `Name.1`, `Name.2`, ... in index order.
    pub fn indexed(&self, name: &str) -> Result<Vec<String>, ApiError> {
        Ok(self
            .indexed_objects(name)?
            .into_iter()
            .filter_map(|mut m| m.remove(""))
            .collect())
    }

    /// Flattened objects `Name.1.Key=..`: one map per index from the rest of the name
    /// (`""` for a plain `Name.1`).
    pub fn indexed_objects(&self, name: &str) -> Result<Vec<BTreeMap<String, String>>, ApiError> {
        self.note_read(name);
        let prefix = format!("{name}.");
        let mut out: BTreeMap<u32, BTreeMap<String, String>> = BTreeMap::new();
        for (k, v) in self.values.range(prefix.clone()..) {
            let Some(rest) = k.strip_prefix(&prefix) else {
                break;
            };
            let (index, field) = rest.split_once('.').unwrap_or((rest, ""));
            let index: u32 = index
                .parse()
                .map_err(|_| ApiError::invalid(k, "expected Name.N with a numeric index"))?;
            out.entry(index)
                .or_default()
                .insert(field.to_string(), v.clone());
        }
        Ok(out.into_values().collect())
    }

    /// Cursor paging as the newer actions take it: `MaxResults` (1 to 100, 20 when absent),
    /// `NextToken` (what the previous page answered: the offset of the next entry) or, without
    /// one, `Skip`. The first entry's offset and the page size.
    pub fn cursor(&self) -> Result<Cursor, ApiError> {
        let size: usize = self.num("MaxResults")?.unwrap_or(DEFAULT_PAGE_SIZE);
        if size == 0 || size > MAX_PAGE_SIZE {
            return Err(ApiError::invalid(
                "MaxResults",
                format!("must be between 1 and {MAX_PAGE_SIZE}"),
            ));
        }
        let start = match self.opt("NextToken").filter(|t| !t.is_empty()) {
            Some(t) => t.parse().map_err(|_| {
                ApiError::invalid("NextToken", "is not a token a previous page answered")
            })?,
            None => self.num("Skip")?.unwrap_or(0),
        };
        Ok(Cursor { start, size })
    }

    /// PageNumber (from 1) and PageSize with the SDK's defaults and bounds.
    pub fn page(&self) -> Result<(usize, usize), ApiError> {
        let number: usize = self.num("PageNumber")?.unwrap_or(1);
        let size: usize = self.num("PageSize")?.unwrap_or(DEFAULT_PAGE_SIZE);
        if number == 0 {
            return Err(ApiError::invalid("PageNumber", "must be at least 1"));
        }
        if size == 0 || size > MAX_PAGE_SIZE {
            return Err(ApiError::invalid(
                "PageSize",
                format!("must be between 1 and {MAX_PAGE_SIZE}"),
            ));
        }
        Ok((number, size))
    }
}

/// Parses an id that must be a positive integer.
pub fn parse_id(name: &str, v: &str) -> Result<u64, ApiError> {
    v.trim()
        .parse()
        .map_err(|_| ApiError::invalid(name, "expected a numeric id"))
}

/// An id inside a JSON document: a string or a number.
pub fn json_id(name: &str, v: &serde_json::Value) -> Result<u64, ApiError> {
    match v {
        serde_json::Value::String(s) => parse_id(name, s),
        serde_json::Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| ApiError::invalid(name, "expected a numeric id")),
        _ => Err(ApiError::invalid(name, "expected a numeric id")),
    }
}

/// Parses a boolean.
pub fn parse_bool(name: &str, v: &str) -> Result<bool, ApiError> {
    match v.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::invalid(name, "expected true or false")),
    }
}

/// Where a cursor page starts and how long it is (see [`Params::cursor`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub start: usize,
    pub size: usize,
}

impl Cursor {
    /// The page of `items` under `list`, with `MaxResults`, `NextToken` (empty on the last
    /// page) and `TotalCount`.
    pub fn page(
        self,
        list: &str,
        items: Vec<serde_json::Value>,
    ) -> serde_json::Map<String, serde_json::Value> {
        let total = items.len();
        let end = self.start.saturating_add(self.size);
        let next = if end < total {
            end.to_string()
        } else {
            String::new()
        };
        let page: Vec<_> = items.into_iter().skip(self.start).take(self.size).collect();
        let mut m = serde_json::Map::new();
        m.insert(list.to_string(), page.into());
        m.insert("MaxResults".into(), self.size.into());
        m.insert("NextToken".into(), next.into());
        m.insert("TotalCount".into(), total.into());
        m
    }
}

/// One page of `items` and the total count.
/// The page `(number, size)` of `items` and how many items there are, turning only the page's
/// items into rows: a list of 100,000 entries costs a walk through them, not 100,000 rows.
/// How many rows come before page `number` (from 1) of `size` rows.
pub fn page_start((number, size): (usize, usize)) -> usize {
    (number - 1).saturating_mul(size)
}

pub fn page_of<T, R>(
    items: impl Iterator<Item = T>,
    (number, size): (usize, usize),
    mut row: impl FnMut(T) -> R,
) -> (Vec<R>, usize) {
    let start = page_start((number, size));
    let mut page = Vec::new();
    let mut total = 0;
    for item in items {
        if total >= start && page.len() < size {
            page.push(row(item));
        }
        total += 1;
    }
    (page, total)
}

pub fn paginate<T>(items: Vec<T>, paging: (usize, usize)) -> (Vec<T>, usize) {
    page_of(items.into_iter(), paging, |item| item)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        let mut p = Params::default();
        let it = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        p.extend(it).expect("distinct");
        p
    }

    #[test]
    fn ids_come_as_the_sdk_sends_a_list_or_as_a_json_array_but_not_both() {
        let flat = params(&[("DatabaseIds.1", "4"), ("DatabaseIds.2", "7")]);
        assert_eq!(flat.id_list_or_indexed("DatabaseIds").unwrap(), vec![4, 7]);
        let json = params(&[("DatabaseIds", "[\"4\",\"7\"]")]);
        assert_eq!(json.id_list_or_indexed("DatabaseIds").unwrap(), vec![4, 7]);
        let both = params(&[("DatabaseIds", "[\"4\"]"), ("DatabaseIds.1", "7")]);
        let e = both
            .id_list_or_indexed("DatabaseIds")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not both"), "{e}");
        let bad = params(&[("DatabaseIds.1", "seven")]);
        let e = bad
            .id_list_or_indexed("DatabaseIds")
            .unwrap_err()
            .to_string();
        assert!(e.contains("DatabaseIds"), "{e}");
        let none = params(&[]);
        assert!(matches!(
            none.id_list_or_indexed("DatabaseIds"),
            Err(ApiError::MissingParameter("DatabaseIds"))
        ));
    }

    #[test]
    fn a_page_of_an_iterator_makes_only_its_rows_and_counts_them_all() {
        let mut made = Vec::new();
        let (page, total) = page_of(0..10, (2, 3), |i| {
            made.push(i);
            i * 10
        });
        assert_eq!((page, total), (vec![30, 40, 50], 10));
        assert_eq!(made, vec![3, 4, 5], "rows were made outside the page");
        let (page, total) = page_of(0..10, (4, 3), |i| i);
        assert_eq!((page, total), (vec![9], 10), "the last page is short");
        let (page, total) = page_of(0..10, (5, 3), |i| i);
        assert_eq!((page, total), (vec![], 10), "past the end");
        assert_eq!(
            page_of(0..10, (1, 3), |i| i),
            paginate((0..10).collect(), (1, 3))
        );
    }

    #[test]
    fn cursor_pages_walk_the_list_and_end_with_an_empty_token() {
        let items: Vec<serde_json::Value> = (0..5).map(serde_json::Value::from).collect();
        let first = params(&[("MaxResults", "2")]).cursor().expect("valid");
        let page = first.page("L", items.clone());
        assert_eq!(page["L"], serde_json::json!([0, 1]));
        assert_eq!(page["NextToken"], "2");
        assert_eq!(page["TotalCount"], 5);
        let last = params(&[("MaxResults", "2"), ("NextToken", "4"), ("Skip", "1")]);
        let page = last.cursor().expect("valid").page("L", items.clone());
        assert_eq!(page["L"], serde_json::json!([4]));
        assert_eq!(page["NextToken"], "");
        let skipped = params(&[("Skip", "3")]).cursor().expect("valid");
        assert_eq!(skipped, Cursor { start: 3, size: 20 });
        let e = params(&[("MaxResults", "101")]).cursor().unwrap_err();
        assert!(e.to_string().contains("MaxResults"), "{e}");
        let e = params(&[("NextToken", "abc")]).cursor().unwrap_err();
        assert!(e.to_string().contains("NextToken"), "{e}");
    }

    #[test]
    fn lists_in_both_encodings() {
        let p = params(&[
            ("HostIds", "[\"3\",4]"),
            ("ResourceId.2", "b"),
            ("ResourceId.1", "a"),
            ("Tag.1.Key", "k"),
            ("Tag.1.Value", "v"),
        ]);
        assert_eq!(p.id_list("HostIds").expect("ids"), vec![3, 4]);
        assert_eq!(p.indexed("ResourceId").expect("list"), vec!["a", "b"]);
        let tags = p.indexed_objects("Tag").expect("tags");
        assert_eq!(tags[0]["Key"], "k");
        assert_eq!(tags[0]["Value"], "v");
    }

    #[test]
    fn errors_name_the_parameter() {
        let p = params(&[("HostId", "x"), ("HostIds", "nope"), ("Flag", "True")]);
        assert!(p.id("HostId").unwrap_err().to_string().contains("HostId"));
        assert!(p
            .id_list("HostIds")
            .unwrap_err()
            .to_string()
            .contains("HostIds"));
        assert!(p.req("UserId").unwrap_err().to_string().contains("UserId"));
        assert_eq!(p.bool("Flag").expect("bool"), Some(true));
        let mut dup = params(&[("A", "1")]);
        assert!(dup
            .extend([("A".to_string(), "2".to_string())].into_iter())
            .is_err());
    }

    #[test]
    fn paging_defaults_and_bounds() {
        assert_eq!(params(&[]).page().expect("page"), (1, DEFAULT_PAGE_SIZE));
        assert!(params(&[("PageSize", "0")]).page().is_err());
        assert!(params(&[("PageSize", "100000")]).page().is_err());
        assert!(params(&[("PageNumber", "0")]).page().is_err());
        let (page, total) = paginate((1..=45).collect::<Vec<_>>(), (3, 20));
        assert_eq!((page, total), (vec![41, 42, 43, 44, 45], 45));
    }
}
