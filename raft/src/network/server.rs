//! The answering side: accept authenticated QUIC connections and answer each stream's request.

use super::{RpcRequest, RpcResponse, MAX_MESSAGE};
use crate::codec;
use crate::replica::Inner;
use std::sync::Arc;

/// Accept connections until the endpoint is closed.
pub(crate) async fn serve(endpoint: quinn::Endpoint, inner: Arc<Inner>) {
    while let Some(incoming) = endpoint.accept().await {
        let inner = inner.clone();
        tokio::spawn(async move {
            match incoming.await {
                Ok(conn) => serve_connection(conn, inner).await,
                Err(e) => {
                    tracing::debug!(error = %e, "cluster connection refused during handshake")
                }
            }
        });
    }
}

async fn serve_connection(conn: quinn::Connection, inner: Arc<Inner>) {
    let remote = conn.remote_address();
    loop {
        let (send, recv) = match conn.accept_bi().await {
            Ok(s) => s,
            Err(e) => {
                tracing::trace!(%remote, error = %e, "cluster connection ended");
                return;
            }
        };
        let inner = inner.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_stream(send, recv, inner).await {
                tracing::debug!(%remote, error = %e, "cluster stream failed");
            }
        });
    }
}

async fn serve_stream(
    mut send: quinn::SendStream,
    mut recv: quinn::RecvStream,
    inner: Arc<Inner>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let bytes = recv.read_to_end(MAX_MESSAGE).await?;
    let req: RpcRequest = codec::decode(&bytes)?;
    let resp: RpcResponse = inner.handle(req).await;
    send.write_all(&codec::encode(&resp)?).await?;
    send.finish()?;
    // Wait until the peer has read the answer (or gone) before dropping the stream.
    let _ = send.stopped().await;
    Ok(())
}
