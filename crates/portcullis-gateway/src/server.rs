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

use arc_swap::ArcSwap;

use portcullis::{Authentication, AuthenticationLayer, RequireScopes, RequireScopesLayer};
use tower_layer::Layer;

use crate::access_log::RecordIdentity;
use crate::auth::{IssuerSet, PreparedIssuers};
use crate::config::{Config, ConfigFileError, Requirement};
use crate::decision::{self, Decide, DecisionRoute};
use crate::events::{EventSink, GatewayEvent};
use crate::host_router::HostRouter;
use crate::metrics::Metrics;
use crate::proxy::{
    self, GatewayState, MetadataEndpoint, Proxy, ProxyCore, RouteService, TunnelSignals, Tunnels,
};
use crate::reload::Reloader;
use crate::store::SharedStore;
use crate::tls::TlsTerminator;

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
    /// TLS listeners, each with its listener's certificates.
    tls: Vec<(TcpListener, Arc<TlsTerminator>)>,
    operations: Option<TcpListener>,
    decision: Vec<TcpListener>,
    decision_grpc: Vec<TcpListener>,
    state: SharedState,
    /// Closes the upgraded connections at shutdown, whichever configuration opened them.
    tunnels: Arc<TunnelSignals>,
    terminators: Vec<BoundTerminator>,
    events: EventSink,
}

/// A TLS listener's certificates, and the addresses its listeners were bound to.
pub(crate) type BoundTerminator = (Arc<TlsTerminator>, Vec<SocketAddr>);

/// The configuration being served: requests load it as they arrive, a reload replaces
/// it whole (requests in flight finish on the one they loaded).
pub(crate) type SharedState = Arc<ArcSwap<GatewayState>>;

/// What a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listener {
    /// The proxy (and the operations endpoints, when they have no port of their own).
    Main,
    Operations,
    /// Authorization decisions for a proxy in front (`[decision] listen`).
    Decision,
    /// Envoy's ext_authz over gRPC (`[decision] grpc_listen`).
    DecisionGrpc,
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
        let prepared = PreparedIssuers::prepare(&config.issuers, config.store.as_ref())
            .map_err(|e| StartError::Config(e.in_file(&config.source)))?;
        let mut loaded = Vec::with_capacity(config.tls.len());
        for listener in &config.tls {
            let terminator = TlsTerminator::load(listener.clone())
                .map_err(|e| StartError::Config(e.in_file(&config.source)))?;
            loaded.push(Arc::new(terminator));
        }
        let store = config.store.as_ref().map(SharedStore::start);
        let issuers = IssuerSet::start(prepared, store.as_ref().map(SharedStore::revocations))
            .map_err(|e| StartError::other(e.to_string()))?;
        // Everything requests need is built (upstream TLS files read) before any
        // listener is bound.
        let listen = config.listen.clone();
        let operations_listen = config.operations_listen;
        let decision_listen: Vec<SocketAddr> = (config.decision.iter())
            .filter_map(|d| d.http.as_ref())
            .flat_map(|http| http.listen.iter().copied())
            .collect();
        let decision_grpc_listen: Vec<SocketAddr> = (config.decision.iter())
            .flat_map(|d| d.grpc_listen.iter().copied())
            .collect();
        let tunnels = Arc::new(TunnelSignals::default());
        let state = build_state(
            config,
            issuers,
            store,
            tunnels.clone(),
            operations_listen.is_none(),
            None,
        )?;
        let mut listeners = Vec::with_capacity(listen.len());
        for addr in &listen {
            listeners.push(bind(addr).await?);
        }
        let mut tls = Vec::new();
        let mut terminators = Vec::with_capacity(loaded.len());
        for terminator in loaded {
            let mut bound = Vec::with_capacity(terminator.listen().len());
            for addr in terminator.listen() {
                let listener = bind(addr).await?;
                bound.push(listener.local_addr().unwrap_or(*addr));
                tls.push((listener, terminator.clone()));
            }
            terminators.push((terminator, bound));
        }
        let operations = match operations_listen {
            Some(addr) => Some(bind(&addr).await?),
            None => None,
        };
        let mut decision = Vec::new();
        for addr in &decision_listen {
            decision.push(bind(addr).await?);
        }
        let mut decision_grpc = Vec::new();
        for addr in &decision_grpc_listen {
            decision_grpc.push(bind(addr).await?);
        }
        Ok(Gateway {
            listeners,
            tls,
            terminators,
            events: EventSink::default(),
            operations,
            decision,
            decision_grpc,
            state: Arc::new(ArcSwap::from_pointee(state)),
            tunnels,
        })
    }

    /// The proxy's addresses actually bound (with real ports when the file said port
    /// 0): the cleartext ones, then the TLS ones.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .chain(self.tls.iter().map(|(l, _)| l))
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The TLS listeners' addresses (`[[server.tls]]`), in the file's order.
    pub fn tls_addrs(&self) -> Vec<SocketAddr> {
        self.tls
            .iter()
            .filter_map(|(l, _)| l.local_addr().ok())
            .collect()
    }

    /// Calls `callback` with every [`GatewayEvent`] (reloads and their refusals), after
    /// logging it. Set it before [`Gateway::reloader`] and [`Gateway::serve`].
    pub fn on_event(&mut self, callback: impl Fn(&GatewayEvent) + Send + Sync + 'static) {
        self.events = EventSink::new(callback);
    }

    /// A handle that reloads the configuration and the files it names while the
    /// gateway serves.
    pub fn reloader(&self) -> Reloader {
        Reloader::new(
            self.state.clone(),
            self.terminators.clone(),
            self.events.clone(),
        )
    }

    /// The HTTP decision listeners' addresses (`[decision] listen`).
    pub fn decision_addrs(&self) -> Vec<SocketAddr> {
        self.decision
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The Envoy ext_authz gRPC listeners' addresses (`[decision] grpc_listen`).
    pub fn decision_grpc_addrs(&self) -> Vec<SocketAddr> {
        self.decision_grpc
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The state every listener serves, for the in-process decision benchmark
    /// ([`crate::benching`]).
    pub(crate) fn state(&self) -> Arc<GatewayState> {
        self.state.load_full()
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
        let mut tasks = JoinSet::new();
        let listeners = (self
            .listeners
            .into_iter()
            .map(|l| (l, Listener::Main, None)))
        .chain(
            self.tls
                .into_iter()
                .map(|(l, terminator)| (l, Listener::Main, Some(terminator))),
        )
        .chain(self.operations.map(|l| (l, Listener::Operations, None)))
        .chain(
            self.decision
                .into_iter()
                .map(|l| (l, Listener::Decision, None)),
        )
        .chain(
            self.decision_grpc
                .into_iter()
                .map(|l| (l, Listener::DecisionGrpc, None)),
        );
        for (listener, kind, tls) in listeners {
            tasks.spawn(accept_loop(
                listener,
                self.state.clone(),
                kind,
                tls,
                stop_rx.clone(),
            ));
        }
        // Watchers end with the accept loops; they hold no connection.
        let mut watchers = JoinSet::new();
        for (terminator, listeners) in self.terminators {
            watchers.spawn(crate::reload::watch_files(
                terminator,
                listeners,
                self.events.clone(),
                stop_rx.clone(),
            ));
        }
        shutdown.await;
        // The grace period of the configuration serving now (a reload may change it).
        let grace = self.state.load().core.config.shutdown_grace;
        tracing::info!(
            grace_s = grace.as_secs(),
            "shutting down: draining in-flight requests"
        );
        let _ = stop_tx.send(true);
        watchers.abort_all();
        if tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} })
            .await
            .is_err()
        {
            tracing::warn!("grace period over; closing the remaining connections");
            tasks.abort_all();
        }
        // Upgraded connections (WebSockets) left the HTTP connections they started on;
        // closed now, each counted and logged.
        self.tunnels.close_all().await;
        Ok(())
    }
}

/// Everything requests need, built from a checked configuration and started issuers:
/// at start, and for each reload (the `running` state's metrics and upgrade counters
/// kept when the routes keep their names).
pub(crate) fn build_state(
    config: Config,
    issuers: IssuerSet,
    store: Option<SharedStore>,
    tunnels: Arc<TunnelSignals>,
    operations_on_main: bool,
    running: Option<&GatewayState>,
) -> Result<GatewayState, StartError> {
    let names: Vec<String> = config.routes.iter().map(|r| r.name.clone()).collect();
    let same_routes = running.filter(|running| running.metrics.route_names() == names.as_slice());
    let tunnels = Tunnels::new(
        names.len(),
        tunnels,
        same_routes.map(|running| &running.core.tunnels),
    );
    let metrics = same_routes.map_or_else(
        || Arc::new(Metrics::new(names)),
        |running| running.metrics.clone(),
    );
    let router = HostRouter::new(&config.routes);
    let source = config.source.clone();
    let core = Arc::new(
        ProxyCore::new(config, tunnels).map_err(|e| StartError::Config(e.in_file(&source)))?,
    );
    let (routes, decisions, metadata) = route_services(&core, &issuers)?;
    Ok(GatewayState {
        core,
        router,
        routes,
        decisions,
        metadata,
        issuers,
        metrics,
        operations_on_main,
        store,
    })
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
        if !config.upstreams.is_empty() {
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
        }
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

/// What a request's connection said about itself, put in its extensions.
fn connection_extensions(
    request: &mut http::Request<hyper::body::Incoming>,
    tls: Option<&TlsConnection>,
) {
    if let Some(tls) = tls {
        request.extensions_mut().insert(crate::tls::Terminated);
        if let Some(certificate) = tls.client_certificate {
            request.extensions_mut().insert(certificate);
        }
    }
}

/// What a TLS handshake established for the connection's requests.
#[derive(Debug, Clone, Copy)]
struct TlsConnection {
    client_certificate: Option<portcullis::ClientCertificate>,
}

async fn accept_loop(
    listener: TcpListener,
    state: SharedState,
    kind: Listener,
    tls: Option<Arc<TlsTerminator>>,
    mut stop: watch::Receiver<bool>,
) {
    // Read once: a reload does not change how connections are read (documented).
    let limits = state.load().core.config.limits.clone();
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
        let state = state.clone();
        let service = move |connection: Option<TlsConnection>| {
            service_fn(move |mut request| {
                // Each request runs on the configuration serving when it arrives.
                let shared = state.load_full();
                connection_extensions(&mut request, connection.as_ref());
                async move {
                    match kind {
                        Listener::Main => proxy::handle(shared, request, peer).await,
                        Listener::Operations => proxy::handle_operations(shared, request).await,
                        Listener::Decision => {
                            decision::http_endpoint::handle(shared, request, peer).await
                        }
                        Listener::DecisionGrpc => {
                            decision::ext_authz::handle(shared, request, peer).await
                        }
                    }
                }
            })
        };
        let Some(terminator) = &tls else {
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service(None))
                .into_owned();
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(%error, "connection ended with an error");
                }
            });
            continue;
        };
        // The handshake runs in the connection's task, so a slow one holds up no
        // other; it has the time a request's headers have.
        let acceptor = terminator.acceptor();
        let handshake_timeout = limits.header_read_timeout;
        let watcher = graceful.watcher();
        let builder = builder.clone();
        tokio::spawn(async move {
            let stream =
                match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(error)) => {
                        tracing::debug!(%error, %peer, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
            let connection = TlsConnection {
                client_certificate: crate::tls::verified_client_certificate(stream.get_ref().1),
            };
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service(Some(connection)))
                .into_owned();
            if let Err(error) = watcher.watch(connection).await {
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
