//! The action table: every served action with its parameters, access class and handler. The
//! dispatcher, the parameter validator and the OpenAPI generator all read this one table.

use super::call::Call;
use super::error::{ApiError, ApiResult};
use super::params::{json_id, parse_bool, parse_id, Params};
use crate::BoxFuture;

/// Who may call an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Changes state: Admin only.
    Write,
    /// Reads: Admin and Auditor.
    Read,
    /// Reads about one user (`UserId`): Admin, Auditor, and an Operator about itself.
    ForUser,
    /// O&M tokens: Admin and Operator, acting as the key's user.
    Token,
}

/// The type of a parameter (as sent on the wire, always text).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    Str,
    /// A decimal id.
    Id,
    Int,
    Bool,
    /// A JSON array of ids (`["1","2"]`).
    IdList,
    /// JSON text (arrays of objects, lists of strings).
    Json,
    /// Flattened list `Name.N` (or objects `Name.N.Field`).
    Indexed,
}

/// One parameter of an action.
#[derive(Clone, Copy, Debug)]
pub struct ParamSpec {
    pub name: &'static str,
    pub ty: Ty,
    pub required: bool,
    /// A secret (password, private key, token, passphrase): the admin audit trail records
    /// that it was given, never its value.
    pub secret: bool,
}

impl ParamSpec {
    /// The same parameter, marked secret.
    pub const fn secret(self) -> Self {
        ParamSpec {
            secret: true,
            ..self
        }
    }
}

/// A required parameter.
pub const fn req(name: &'static str, ty: Ty) -> ParamSpec {
    ParamSpec {
        name,
        ty,
        required: true,
        secret: false,
    }
}

/// An optional parameter.
pub const fn opt(name: &'static str, ty: Ty) -> ParamSpec {
    ParamSpec {
        name,
        ty,
        required: false,
        secret: false,
    }
}

/// An action handler.
pub type Handler = for<'a> fn(&'a Call) -> BoxFuture<'a, ApiResult>;

/// One served action.
pub struct Action {
    pub name: &'static str,
    pub access: Access,
    pub params: &'static [ParamSpec],
    pub handler: Handler,
    pub summary: &'static str,
}

impl Action {
    /// Whether a call may change the state, and so leaves an entry in the admin audit trail:
    /// every `Write` action, and the `Token` actions that are not listings (issuing and
    /// renewing tokens).
    pub fn changes_state(&self) -> bool {
        match self.access {
            Access::Write => true,
            Access::Token => !self.name.starts_with("List"),
            Access::Read | Access::ForUser => false,
        }
    }
}

/// Builds an [`Action`] from a handler `async fn(&Call) -> ApiResult`.
macro_rules! action {
    ($name:literal, $access:ident, $handler:path, $summary:literal, params: $params:expr) => {
        $crate::api::table::Action {
            name: $name,
            access: $crate::api::table::Access::$access,
            params: $params,
            handler: |c| Box::pin($handler(c)),
            summary: $summary,
        }
    };
    ($name:literal, $access:ident, $handler:path, $summary:literal, [$($p:expr),* $(,)?]) => {
        $crate::api::table::Action {
            name: $name,
            access: $crate::api::table::Access::$access,
            params: &[$($p),*],
            handler: |c| Box::pin($handler(c)),
            summary: $summary,
        }
    };
}
pub(crate) use action;

/// Parameter lists laid end to end (for actions that share groups of parameters); `N` must be
/// their total length, checked when the constant is evaluated.
pub const fn join<const N: usize>(parts: &[&[ParamSpec]]) -> [ParamSpec; N] {
    let mut out = [opt("", Ty::Str); N];
    let mut n = 0;
    let mut i = 0;
    while i < parts.len() {
        let mut j = 0;
        while j < parts[i].len() {
            out[n] = parts[i][j];
            n += 1;
            j += 1;
        }
        i += 1;
    }
    assert!(n == N, "join: N is not the parts' total length");
    out
}

/// Parameters every action accepts (and ignores unless documented).
pub const COMMON: [ParamSpec; 3] = [
    opt("InstanceId", Ty::Str),
    opt("RegionId", Ty::Str),
    opt("ProjectId", Ty::Str),
];

/// The served action named `name`.
pub fn find(name: &str) -> Option<&'static Action> {
    super::actions::all().find(|a| a.name == name)
}

/// Checks presence and type of every declared parameter.
pub fn validate(action: &Action, p: &Params) -> Result<(), ApiError> {
    for spec in action.params {
        let Some(v) = p.get(spec.name) else {
            if spec.required && spec.ty != Ty::Indexed {
                return Err(ApiError::MissingParameter(spec.name));
            }
            continue;
        };
        if v.is_empty() {
            if spec.required {
                return Err(ApiError::MissingParameter(spec.name));
            }
            continue;
        }
        check_type(spec, v)?;
    }
    Ok(())
}

fn check_type(spec: &ParamSpec, v: &str) -> Result<(), ApiError> {
    let n = spec.name;
    match spec.ty {
        Ty::Str | Ty::Indexed => Ok(()),
        Ty::Id => parse_id(n, v).map(|_| ()),
        Ty::Int => v
            .trim()
            .parse::<i64>()
            .map(|_| ())
            .map_err(|_| ApiError::invalid(n, "expected an integer")),
        Ty::Bool => parse_bool(n, v).map(|_| ()),
        Ty::Json => serde_json::from_str::<serde_json::Value>(v)
            .map(|_| ())
            .map_err(|_| ApiError::invalid(n, "expected JSON text")),
        Ty::IdList => match serde_json::from_str::<serde_json::Value>(v) {
            Ok(serde_json::Value::Array(items)) => {
                items.iter().try_for_each(|i| json_id(n, i).map(|_| ()))
            }
            _ => Err(ApiError::invalid(n, "expected a JSON array of ids")),
        },
    }
}
