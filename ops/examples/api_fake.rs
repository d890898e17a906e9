//! DEVELOPMENT FAKE: serves `api_router` over the in-memory `FakeBackend` (no Raft, no
//! encryption) so `tests/sdk_smoke.py` can run before the node is wired.
//!
//! `cargo run -p portunus-ops --features test-util --example api_fake -- 127.0.0.1:18080`
//! prints `PORTUNUS_API_ENDPOINT=.. PORTUNUS_AK_ID=.. PORTUNUS_AK_SECRET=..` and serves until
//! killed. The Admin key is `fake-admin` with secret `fake-admin-secret`.

use portunus_model::Role;
use portunus_ops::api::fake::FakeBackend;
use portunus_ops::{api_router, serve, ApiSettings, Metrics};
use std::sync::Arc;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let backend = Arc::new(FakeBackend::new("portunus-fake"));
    backend.add_access_key("fake-admin", "fake-admin-secret", Role::Admin, None);
    backend.add_access_key("fake-auditor", "fake-auditor-secret", Role::Auditor, None);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    println!(
        "PORTUNUS_API_ENDPOINT={local} PORTUNUS_AK_ID=fake-admin PORTUNUS_AK_SECRET=fake-admin-secret"
    );
    let metrics = Arc::new(Metrics::new());
    let router = api_router(backend, metrics.clone());
    let limits = ApiSettings::default();
    serve(
        listener,
        router,
        None,
        &limits,
        &[],
        metrics,
        std::future::pending(),
    )
    .await
}
