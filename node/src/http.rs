//! The node's HTTP listeners: the API (with `/healthz` and `/readyz` for load balancers) and
//! the operator's listener (`/metrics`, `/v1/status`), bound before anything else starts and
//! served by `portunus_ops` within the `[api]` limits, with the web portal (`portunus_web`) on
//! the API port.

use crate::config::{MetricsListen, NodeConfig, Role};
use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The bound listeners of an engine (none on a witness).
pub(crate) struct Listeners {
    api: Option<TcpListener>,
    operator: Option<TcpListener>,
}

impl Listeners {
    /// Binds the API and, when configured, the operator's listener.
    pub(crate) async fn bind(config: &NodeConfig) -> anyhow::Result<Listeners> {
        if config.role == Role::Witness {
            return Ok(Listeners {
                api: None,
                operator: None,
            });
        }
        let api = TcpListener::bind(config.api_listen)
            .await
            .with_context(|| format!("binding the API on {}", config.api_listen))?;
        let operator = match config.metrics_listen {
            MetricsListen::At(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding --metrics-listen on {addr}"))?,
            ),
            MetricsListen::Api | MetricsListen::Off => None,
        };
        Ok(Listeners {
            api: Some(api),
            operator,
        })
    }

    pub(crate) fn api_addr(&self) -> std::io::Result<Option<SocketAddr>> {
        self.api.as_ref().map(|l| l.local_addr()).transpose()
    }

    pub(crate) fn metrics_addr(&self) -> std::io::Result<Option<SocketAddr>> {
        self.operator.as_ref().map(|l| l.local_addr()).transpose()
    }

    /// Serves both listeners until `stop` turns true.
    pub(crate) fn spawn(
        self,
        config: &NodeConfig,
        ports: Ports,
        metrics: Arc<portunus_ops::Metrics>,
        stop: &watch::Receiver<bool>,
    ) -> anyhow::Result<Vec<JoinHandle<()>>> {
        let mut tasks = Vec::new();
        let Some(api) = self.api else {
            return Ok(tasks);
        };
        let Ports {
            probe,
            backend,
            web,
        } = ports;
        let web_config = portunus_web::WebConfig {
            tls: !config.api_plaintext,
            oidc_tls: crate::api_tls::oidc_client(config)?,
        };
        let mut router = portunus_ops::health_router(probe.clone(), metrics.clone())
            .merge(portunus_ops::api_router_with(
                backend.clone(),
                metrics.clone(),
                &config.api,
            ))
            .merge(portunus_web::web_router(backend, web, web_config));
        if config.metrics_listen == MetricsListen::Api {
            router = router.merge(portunus_ops::operator_router(
                probe.clone(),
                metrics.clone(),
            ));
        }
        let tls = match config.api_plaintext {
            true => None,
            false => Some(crate::api_tls::server_config(
                &config.data_dir,
                config.api_tls_cert.as_deref(),
                config.api_tls_key.as_deref(),
            )?),
        };
        let front = Front {
            tls,
            proxy_from: config.proxy_protocol_from.clone(),
        };
        tasks.push(serve("API", api, router, front, config, &metrics, stop));
        if let Some(operator) = self.operator {
            // The operator's listener is reached directly, never through the balancer.
            let router = portunus_ops::operator_router(probe, metrics.clone());
            let front = Front {
                tls: None,
                proxy_from: Vec::new(),
            };
            tasks.push(serve(
                "metrics", operator, router, front, config, &metrics, stop,
            ));
        }
        Ok(tasks)
    }
}

/// The node's implementations of the ports the API listener's routers need.
pub(crate) struct Ports {
    pub(crate) probe: Arc<dyn portunus_ops::NodeProbe>,
    pub(crate) backend: Arc<dyn portunus_ops::Backend>,
    pub(crate) web: Arc<dyn portunus_web::WebGate>,
}

/// How a listener meets its clients: TLS or not, and which load balancers put a PROXY v2 header
/// in front of their connections.
struct Front {
    tls: Option<Arc<rustls::ServerConfig>>,
    proxy_from: Vec<portunus_proxy_protocol::Cidr>,
}

fn serve(
    what: &'static str,
    listener: TcpListener,
    router: axum::Router,
    front: Front,
    config: &NodeConfig,
    metrics: &Arc<portunus_ops::Metrics>,
    stop: &watch::Receiver<bool>,
) -> JoinHandle<()> {
    let limits = config.api.clone();
    let Front { tls, proxy_from } = front;
    let metrics = metrics.clone();
    let mut stop = stop.clone();
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        let served = portunus_ops::serve(
            listener,
            router,
            tls,
            &limits,
            &proxy_from,
            metrics,
            shutdown,
        )
        .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "{what} server failed");
        }
    })
}
