//! Listening, serving, and graceful shutdown.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use portcullis::{Authentication, AuthenticationLayer, RequireScopes, RequireScopesLayer};
use tower_layer::Layer;

use crate::access_log::RecordIdentity;
use crate::auth::{IssuerSet, PreparedIssuers};
use crate::config::{Config, ConfigFileError, Requirement};
use crate::decision::{self, Decide, DecisionRoute};
use crate::metrics::Metrics;
use crate::proxy::{self, GatewayState, MetadataEndpoint, Proxy, ProxyCore, RouteService};
use crate::router::Router;

/// Why the gateway could not start or serve.
#[derive(Debug)]
pub enum StartError {
    /// The configuration cannot run as written (what `check-config` also refuses).
    Config(ConfigFileError),
    /// Anything else: a listener that cannot be bound, a runtime failure.
    Other(String),
}

impl StartError {
    fn other(message: impl Into<String>) -> StartError {
        StartError::Other(message.into())
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Config(error) => fmt::Display::fmt(error, f),
            StartError::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for StartError {}

/// A gateway bound to its listeners, not yet serving.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use portcullis_gateway::{Config, Gateway};
/// let config = Config::from_file("gateway.toml".as_ref())?;
/// let gateway = Gateway::bind(config).await?;
/// println!("listening on {:?}", gateway.local_addrs());
/// gateway.serve(async { tokio::signal::ctrl_c().await.ok(); }).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Gateway {
    listeners: Vec<TcpListener>,
    operations: Option<TcpListener>,
    decision: Vec<TcpListener>,
    shared: Arc<GatewayState>,
}

/// What a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listener {
    /// The proxy (and the operations endpoints, when they have no port of their own).
    Main,
    Operations,
    /// Authorization decisions for a proxy in front (`[decision]`).
    Decision,
}

async fn bind(addr: &SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| StartError::other(format!("cannot listen on {addr}: {e}")))
}

impl Gateway {
    /// Binds every listener and starts loading the issuers' keys. Must be called inside
    /// a tokio runtime.
    ///
    /// # Errors
    /// A listener cannot be bound, or an issuer cannot be set up (an unreadable key file,
    /// a key source this build cannot fetch).
    pub async fn bind(config: Config) -> Result<Gateway, StartError> {
        let prepared = PreparedIssuers::prepare(&config.issuers)
            .map_err(|e| StartError::Config(e.in_file(&config.source)))?;
        let issuers = IssuerSet::start(prepared).map_err(|e| StartError::other(e.to_string()))?;
        let mut listeners = Vec::with_capacity(config.listen.len());
        for addr in &config.listen {
            listeners.push(bind(addr).await?);
        }
        let operations = match config.operations_listen {
            Some(addr) => Some(bind(&addr).await?),
            None => None,
        };
        let mut decision = Vec::new();
        for addr in config.decision.iter().flat_map(|d| &d.listen) {
            decision.push(bind(addr).await?);
        }
        let metrics = Metrics::new(config.routes.iter().map(|r| r.name.clone()).collect());
        let operations_on_main = operations.is_none();
        let router = Router::from_paths(
            config
                .routes
                .iter()
                .map(|route| (route.path.clone(), route.methods.clone())),
        );
        let core = Arc::new(ProxyCore::new(config));
        let (routes, decisions, metadata) = route_services(&core, &issuers)?;
        Ok(Gateway {
            listeners,
            operations,
            decision,
            shared: Arc::new(GatewayState {
                core,
                router,
                routes,
                decisions,
                metadata,
                issuers,
                metrics,
                operations_on_main,
            }),
        })
    }

    /// The addresses actually bound (with real ports when the file said port 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The decision listeners' addresses (`[decision]`).
    pub fn decision_addrs(&self) -> Vec<SocketAddr> {
        self.decision
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The operations listener's address, when it has its own.
    pub fn operations_addr(&self) -> Option<SocketAddr> {
        self.operations.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` completes, then stops accepting and lets in-flight
    /// requests finish, for at most the configured `server.shutdown_grace`.
    ///
    /// # Errors
    /// Not at present; reserved for listener failures.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) -> Result<(), StartError> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let grace = self.shared.core.config.shutdown_grace;
        let mut tasks = JoinSet::new();
        let listeners = (self.listeners.into_iter().map(|l| (l, Listener::Main)))
            .chain(self.operations.map(|l| (l, Listener::Operations)))
            .chain(self.decision.into_iter().map(|l| (l, Listener::Decision)));
        for (listener, kind) in listeners {
            tasks.spawn(accept_loop(
                listener,
                self.shared.clone(),
                kind,
                stop_rx.clone(),
            ));
        }
        shutdown.await;
        tracing::info!(
            grace_s = grace.as_secs(),
            "shutting down: draining in-flight requests"
        );
        let _ = stop_tx.send(true);
        if tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} })
            .await
            .is_err()
        {
            tracing::warn!("grace period over; closing the remaining connections");
            tasks.abort_all();
        }
        // Upgraded connections (WebSockets) left the HTTP connections they started on;
        // closed now, each counted and logged.
        self.shared.core.tunnels.close_all().await;
        Ok(())
    }
}

/// One service per route: the proxy alone for anonymous routes; the `portcullis`
/// authentication and requirement layers around it for the others, so the gateway
/// answers exactly as the library does.
type Services = (
    Vec<RouteService>,
    Vec<DecisionRoute>,
    Option<MetadataEndpoint>,
);

fn route_services(core: &Arc<ProxyCore>, issuers: &IssuerSet) -> Result<Services, StartError> {
    let config = &core.config;
    let config_error = |e: portcullis::ConfigError| StartError::other(e.message());
    let mut builder = AuthenticationLayer::builder(issuers.clone()).realm(config.realm.clone());
    if let Some(policy) = &config.dpop {
        builder = builder.dpop(policy.clone());
    }
    if let Some(metadata) = &config.protected_resource {
        builder = builder.resource_metadata(metadata.url.clone());
    }
    let authentication = builder.build().map_err(config_error)?;
    let mut services = Vec::with_capacity(config.routes.len());
    let mut decisions = Vec::new();
    for (index, route) in config.routes.iter().enumerate() {
        let requirement = match &route.requirement {
            Requirement::Anonymous => None,
            Requirement::Authenticated {
                scopes,
                claim_equals,
                claim_contains,
            } => {
                let mut requirement = authentication.require(scopes.clone());
                if !claim_equals.is_empty() || !claim_contains.is_empty() {
                    let equals = claim_equals.clone();
                    let contains = claim_contains.clone();
                    requirement = requirement.and_claims(move |verified| {
                        crate::auth_rules::claims_match(verified, &equals, &contains)
                    });
                }
                Some(requirement)
            }
        };
        services.push(
            match &requirement {
                None => RouteService::Anonymous(Proxy::new(core.clone(), true, index)),
                Some(requirement) => RouteService::Protected(protect(
                    &authentication,
                    requirement,
                    Proxy::new(core.clone(), false, index),
                )),
            }
            .with_cors(route.cors.as_ref()),
        );
        if config.decision.is_some() {
            decisions.push(match &requirement {
                None => DecisionRoute::Anonymous(Decide::new(core.clone(), true)),
                Some(requirement) => DecisionRoute::Protected(protect(
                    &authentication,
                    requirement,
                    Decide::new(core.clone(), false),
                )),
            });
        }
    }
    // Built from the layer after every route's requirement, so `scopes_supported` is
    // what the routes ask for; the library renders and serves it.
    let metadata = config.protected_resource.as_ref().map(|resource| {
        let metadata = resource
            .authorization_servers
            .iter()
            .fold(
                authentication.metadata(resource.resource.clone()),
                |metadata, issuer| metadata.authorization_server(issuer.clone()),
            )
            .into_service();
        MetadataEndpoint {
            path: resource.path.clone(),
            service: metadata,
        }
    });
    Ok((services, decisions, metadata))
}

/// `inner` behind a route's layers: authentication, the identity for the access log,
/// the route's requirement.
fn protect<S>(
    authentication: &AuthenticationLayer<IssuerSet>,
    requirement: &RequireScopesLayer,
    inner: S,
) -> Authentication<RecordIdentity<RequireScopes<S>>, IssuerSet> {
    authentication.layer(RecordIdentity::new(requirement.layer(inner)))
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<GatewayState>,
    kind: Listener,
    mut stop: watch::Receiver<bool>,
) {
    let limits = &shared.core.config.limits;
    let header_block = limits.header_block_bytes();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(header_block);
    builder
        .http2()
        .timer(TokioTimer::new())
        // WebSockets over HTTP/2 (RFC 8441), on the routes that allow them.
        .enable_connect_protocol()
        .max_header_list_size(u32::try_from(header_block).unwrap_or(u32::MAX));
    let graceful = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // Out of file descriptors and the like: keep serving the others.
                tracing::warn!(%error, "accept failed");
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let service = service_fn(move |request| {
            let shared = shared.clone();
            async move {
                match kind {
                    Listener::Main => proxy::handle(shared, request, peer).await,
                    Listener::Operations => proxy::handle_operations(shared, request).await,
                    Listener::Decision => decision::handle(shared, request, peer).await,
                }
            }
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

impl From<String> for StartError {
    fn from(message: String) -> Self {
        StartError::Other(message)
    }
}
