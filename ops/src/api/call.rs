//! One authenticated call in progress: its parameters, caller and the backend helpers that
//! every handler uses (linearizable reads, proposals, sealing).

use super::auth::Caller;
use super::error::ApiError;
use super::params::Params;
use crate::Backend;
use portunus_model::{Command, Rejection, Response, Sealed, State};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The context of one call.
pub struct Call {
    pub backend: Arc<dyn Backend>,
    pub p: Params,
    pub caller: Caller,
    pub now_ms: u64,
}

impl Call {
    /// Runs `f` on the state after a barrier, so writes acknowledged anywhere are visible.
    pub async fn read<T>(&self, f: impl FnOnce(&State) -> T) -> Result<T, ApiError> {
        self.backend.barrier().await?;
        self.read_local(f)
    }

    /// Runs `f` on this node's state without a barrier.
    pub fn read_local<T>(&self, f: impl FnOnce(&State) -> T) -> Result<T, ApiError> {
        let mut f = Some(f);
        let mut out = None;
        self.backend.read(&mut |s| {
            if let Some(f) = f.take() {
                out = Some(f(s));
            }
        });
        // `Backend::read` must call its closure; a backend that does not is a bug.
        out.ok_or(ApiError::Internal)
    }

    /// Proposes a command; a rejection becomes an error.
    pub async fn propose(&self, command: Command) -> Result<Response, ApiError> {
        let resp = self.backend.propose(command).await?;
        resp.into_result().map_err(ApiError::Rejected)
    }

    /// Proposes a creating command and returns the new id.
    pub async fn create(&self, command: Command) -> Result<u64, ApiError> {
        match self.propose(command).await? {
            Response::Created { id } => Ok(id),
            _ => Err(ApiError::Internal),
        }
    }

    /// Seals a secret for storage.
    pub fn seal(&self, purpose: &str, plain: &str) -> Result<Sealed, ApiError> {
        Ok(self.backend.seal(purpose, plain.as_bytes())?)
    }
}

/// An empty success body.
pub fn done() -> Map<String, Value> {
    Map::new()
}

/// A body with one field.
pub fn one(name: &str, value: impl Into<Value>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(name.to_string(), value.into());
    m
}

/// A page body: `{<list>: [...], "TotalCount": n}`.
pub fn page(list: &str, items: Vec<Value>, total: usize) -> Map<String, Value> {
    let mut m = one(list, items);
    m.insert("TotalCount".into(), total.into());
    m
}

/// `Ok(v)` or the not-found rejection.
pub fn found<T>(v: Option<T>, kind: portunus_model::EntityKind, id: u64) -> Result<T, ApiError> {
    v.ok_or(ApiError::Rejected(Rejection::not_found(kind, id)))
}

/// One entry of a batch result (`{"Code":"OK","Message":"",<id fields>}`).
pub fn batch_entry(result: &Result<Response, ApiError>, ids: &[(&str, u64)]) -> Value {
    let mut m = Map::new();
    let (code, msg) = match result {
        Ok(_) => ("OK".to_string(), String::new()),
        Err(e) => (e.code().to_string(), e.to_string()),
    };
    m.insert("Code".into(), code.into());
    m.insert("Message".into(), msg.into());
    for (name, id) in ids {
        m.insert((*name).into(), id.to_string().into());
    }
    Value::Object(m)
}
