//! A minimal client of the Bastionhost RPC API: ACS3-HMAC-SHA256 signed `POST /` requests over
//! plain HTTP/1.1 (nodes started with `--api-plaintext`), one connection per request, signed and
//! sent by [`portunus_ops::client`] (the same canonicalisation the nodes verify with).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::bail;
use portunus_ops::client::{Client, ClientError, Credentials, Endpoint};

/// An Admin AccessKey and the node it talks to.
#[derive(Clone)]
pub(crate) struct Api {
    pub(crate) key_id: String,
    pub(crate) secret: String,
}

impl Api {
    /// Calls `action` on `node` with `params`; returns the JSON body of a 200 answer.
    pub(crate) async fn call(
        &self,
        node: SocketAddr,
        action: &str,
        params: &[(&str, String)],
        timeout: Duration,
    ) -> anyhow::Result<serde_json::Value> {
        let creds = Credentials {
            access_key_id: self.key_id.clone(),
            access_key_secret: self.secret.clone(),
        };
        let client = Client::new(Endpoint::http(node), creds, None)?.with_timeout(timeout);
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        match client.call(action, &params).await {
            Ok(body) => Ok(body),
            Err(ClientError::Timeout(t)) => bail!("{action} timed out after {t:?}"),
            Err(ClientError::Api {
                status,
                code,
                message,
                ..
            }) => bail!("{action} answered {status}: {code}: {message}"),
            Err(e) => bail!("{action}: {e}"),
        }
    }
}
