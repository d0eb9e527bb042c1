//! Protocol switches through the proxy: an HTTP/1.1 `Upgrade` (RFC 9110 §7.8; a
//! WebSocket, RFC 6455) and a WebSocket over HTTP/2 (extended CONNECT, RFC 8441, sent
//! upstream as an HTTP/1.1 upgrade).
//!
//! The handshake is an ordinary request: it went through the route's layers, so the
//! token was checked against the route's requirements before anything reaches here.
//! Once both ends have switched, the bytes are copied both ways until either end
//! closes, the token that opened the connection stops being valid (`exp` plus the
//! issuer's leeway, unless the route says otherwise), the route's lifetime cap is
//! reached, or the gateway shuts down: a socket must not outlive its credentials.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use portcullis_jwt::Claims;
use tokio::sync::watch;

use super::upstream::{ClientAddr, ProxyCore, forward};
use crate::Body;
use crate::config::UpgradePolicy;
use crate::respond::Refusal;

/// The protocol switch a request asks for, among those its route allows.
#[derive(Debug)]
pub(super) enum Requested {
    /// HTTP/1.1 `Connection: upgrade` with `Upgrade`: the allowed protocols, in the
    /// client's order, as they go upstream.
    Http1(HeaderValue),
    /// HTTP/2 extended CONNECT with `:protocol = websocket`.
    Http2WebSocket,
    /// An extended CONNECT for a protocol the route does not allow, or one the gateway
    /// cannot carry upstream: unlike an `Upgrade`, it cannot be ignored.
    Refused,
}

/// Whether `request` is an HTTP/2 extended CONNECT (RFC 8441 §4), which is routed as
/// the GET it stands for.
pub(super) fn is_extended_connect<B>(request: &Request<B>) -> bool {
    request.method() == Method::CONNECT
        && request.extensions().get::<hyper::ext::Protocol>().is_some()
}

/// What `request` asks to switch to, if anything: `policy` is the route's (`None`: it
/// allows no upgrade). An HTTP/1.1 `Upgrade` to protocols the route does not list is
/// ignored (RFC 9110 §7.8 lets a server): the request goes on without it, as a plain
/// request. An extended CONNECT cannot be ignored that way.
pub(super) fn requested<B>(
    request: &Request<B>,
    policy: Option<&UpgradePolicy>,
) -> Option<Requested> {
    if request.method() == Method::CONNECT {
        let protocol = request.extensions().get::<hyper::ext::Protocol>()?;
        let allowed = policy.is_some_and(|p| p.allows("websocket"));
        return Some(
            if protocol.as_str().eq_ignore_ascii_case("websocket") && allowed {
                Requested::Http2WebSocket
            } else {
                Requested::Refused
            },
        );
    }
    let policy = policy?;
    if request.version() != Version::HTTP_11 || !connection_has_upgrade(request.headers()) {
        return None;
    }
    let offered = request
        .headers()
        .get_all(header::UPGRADE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty() && policy.allows(p))
        .collect::<Vec<_>>()
        .join(", ");
    if offered.is_empty() {
        return None;
    }
    HeaderValue::try_from(offered).ok().map(Requested::Http1)
}

fn connection_has_upgrade(headers: &http::HeaderMap) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|option| option.trim().eq_ignore_ascii_case("upgrade"))
}

/// Why an upgraded connection ended: the `reason` label of
/// `portcullis_gateway_upgrades_closed_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CloseReason {
    /// Either end closed it.
    Closed,
    /// The token that opened it stopped being valid (`exp` plus leeway).
    TokenExpired,
    /// The route's (or the gateway's) `upgrade_max_lifetime`.
    MaxLifetime,
    /// The gateway is shutting down.
    Shutdown,
    /// An end failed: a reset, or a switch that never completed.
    Error,
}

impl CloseReason {
    const ALL: [CloseReason; 5] = [
        CloseReason::Closed,
        CloseReason::TokenExpired,
        CloseReason::MaxLifetime,
        CloseReason::Shutdown,
        CloseReason::Error,
    ];

    pub(crate) const fn label(self) -> &'static str {
        match self {
            CloseReason::Closed => "closed",
            CloseReason::TokenExpired => "token_expired",
            CloseReason::MaxLifetime => "max_lifetime",
            CloseReason::Shutdown => "shutdown",
            CloseReason::Error => "error",
        }
    }
}

// `CloseReason::ALL` lists the reasons in declaration order, so `reason as usize` is
// its index (checked at compile time).
const _: () = {
    let mut i = 0;
    while i < CloseReason::ALL.len() {
        assert!(CloseReason::ALL[i] as usize == i);
        i += 1;
    }
};

/// When an upgraded connection opened now must close, and why: the token's end of
/// validity or the lifetime cap, whichever comes first. `valid_until` is the verified
/// claims' ([`Claims::valid_until`]); `None` (an anonymous route, an introspection
/// answer without `exp`, or a route that lets sockets outlive tokens) leaves the cap.
pub(crate) fn closing(
    valid_until: Option<SystemTime>,
    now: SystemTime,
    max_lifetime: Duration,
) -> (Duration, CloseReason) {
    match valid_until {
        Some(until) => {
            let left = until.duration_since(now).unwrap_or(Duration::ZERO);
            if left < max_lifetime {
                (left, CloseReason::TokenExpired)
            } else {
                (max_lifetime, CloseReason::MaxLifetime)
            }
        }
        None => (max_lifetime, CloseReason::MaxLifetime),
    }
}

/// One route's upgrade counters.
#[derive(Debug)]
struct RouteTunnels {
    open: AtomicU64,
    closed: [AtomicU64; CloseReason::ALL.len()],
}

/// The upgraded connections of one configuration: counters per route for `/metrics`,
/// and the gateway's signals.
#[derive(Debug)]
pub(crate) struct Tunnels {
    /// Shared with the configuration a reload replaces, when the routes keep their
    /// names: the connections it opened are still counted.
    routes: Arc<[RouteTunnels]>,
    signals: Arc<TunnelSignals>,
}

/// What closes every upgraded connection at shutdown, whichever configuration (before or
/// after a reload) opened it: one per gateway.
#[derive(Debug)]
pub(crate) struct TunnelSignals {
    /// `true` once the gateway shuts down.
    shutdown: watch::Sender<bool>,
    /// How many are open, to wait for them at shutdown.
    open: watch::Sender<usize>,
}

impl Default for TunnelSignals {
    fn default() -> TunnelSignals {
        TunnelSignals {
            shutdown: watch::Sender::new(false),
            open: watch::Sender::new(0),
        }
    }
}

impl TunnelSignals {
    /// Closes every upgraded connection and waits until they are gone.
    pub(crate) async fn close_all(&self) {
        self.shutdown.send_replace(true);
        let mut open = self.open.subscribe();
        let _ = open.wait_for(|n| *n == 0).await;
    }
}

impl Tunnels {
    /// The counters of `routes` routes: those of `replaced` (the configuration a reload
    /// replaces, when its routes are the same), whose connections are still open and
    /// counted there, or fresh ones.
    pub(crate) fn new(
        routes: usize,
        signals: Arc<TunnelSignals>,
        replaced: Option<&Tunnels>,
    ) -> Tunnels {
        let routes = match replaced {
            Some(replaced) if replaced.routes.len() == routes => replaced.routes.clone(),
            _ => (0..routes)
                .map(|_| RouteTunnels {
                    open: AtomicU64::new(0),
                    closed: std::array::from_fn(|_| AtomicU64::new(0)),
                })
                .collect(),
        };
        Tunnels { routes, signals }
    }

    /// The gateway's signals, for the configuration that replaces this one.
    pub(crate) fn signals(&self) -> Arc<TunnelSignals> {
        self.signals.clone()
    }

    /// The upgrade series of the Prometheus text, appended to `out`, for the routes
    /// that allow upgrades.
    pub(crate) fn render(&self, out: &mut String, routes: &[crate::config::RouteConfig]) {
        let route_names: Vec<&str> = routes
            .iter()
            .map(|r| {
                if r.upgrade.is_some() {
                    r.name.as_str()
                } else {
                    ""
                }
            })
            .collect();
        use std::fmt::Write as _;
        out.push_str(
            "# HELP portcullis_gateway_upgrades_open Upgraded connections (WebSockets) open now.\n\
             # TYPE portcullis_gateway_upgrades_open gauge\n",
        );
        for (name, route) in route_names.iter().zip(self.routes.iter()) {
            if name.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "portcullis_gateway_upgrades_open{{route=\"{}\"}} {}",
                crate::metrics::escape(name),
                route.open.load(Ordering::Relaxed)
            );
        }
        out.push_str(
            "# HELP portcullis_gateway_upgrades_closed_total Upgraded connections closed, by why.\n\
             # TYPE portcullis_gateway_upgrades_closed_total counter\n",
        );
        for (name, route) in route_names.iter().zip(self.routes.iter()) {
            if name.is_empty() {
                continue;
            }
            for (reason, count) in CloseReason::ALL.iter().zip(&route.closed) {
                let count = count.load(Ordering::Relaxed);
                if count > 0 {
                    let _ = writeln!(
                        out,
                        "portcullis_gateway_upgrades_closed_total{{route=\"{}\",reason=\"{}\"}} {count}",
                        crate::metrics::escape(name),
                        reason.label()
                    );
                }
            }
        }
    }
}

/// Forwards an upgrade handshake allowed by `route`'s policy and, when the upstream
/// switches, joins both ends in a task of their own. The answer is the upstream's (its
/// `101`, or whatever else it said), or the gateway's refusal.
pub(super) async fn proxy(
    core: &Arc<ProxyCore>,
    route: usize,
    policy: Option<&UpgradePolicy>,
    mut request: Request<Incoming>,
    claims: Option<Claims>,
    asked: Requested,
) -> Result<Response<Body>, Refusal> {
    let client_side = hyper::upgrade::on(&mut request);
    let peer = request.extensions().get::<ClientAddr>().map(|c| c.0);
    let (policy, offer, over_http2) = match (policy, asked) {
        (None, _) | (_, Requested::Refused) => return Err(Refusal::UpgradeNotAllowed),
        (Some(policy), Requested::Http1(offer)) => (policy, offer, false),
        (Some(policy), Requested::Http2WebSocket) => {
            as_http1_websocket(&mut request)?;
            (policy, HeaderValue::from_static("websocket"), true)
        }
    };
    let mut response = forward(core, route, request, claims.as_ref(), false, Some(&offer)).await?;
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        // The upstream declined (or asked for something else): its answer, as it is.
        return Ok(response);
    }
    let chosen = response
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let offered = |p: &str| {
        offer
            .to_str()
            .is_ok_and(|o| o.split(',').any(|q| q.trim().eq_ignore_ascii_case(p)))
    };
    let Some(protocol) = chosen.filter(|p| offered(p)).map(str::to_ascii_lowercase) else {
        tracing::warn!("the upstream switched to a protocol the client did not offer");
        return Err(Refusal::UpstreamError);
    };
    let upstream_side = hyper::upgrade::on(&mut response);
    let valid_until = claims
        .as_ref()
        .filter(|_| policy.close_at_token_expiry)
        .and_then(Claims::valid_until);
    let (lifetime, why) = closing(valid_until, SystemTime::now(), policy.max_lifetime);
    let tunnel = Tunnel {
        route_name: core
            .config
            .routes
            .get(route)
            .map_or_else(String::new, |r| r.name.clone()),
        open: OpenTunnel::new(core.clone(), route),
        protocol,
        peer,
        claims,
        deadline: tokio::time::Instant::now() + lifetime,
        at_deadline: why,
    };
    tokio::spawn(tunnel.run(client_side, upstream_side));
    if over_http2 {
        // RFC 8441 §5: a 2xx opens the stream; the HTTP/1.1 handshake headers stay on
        // the upstream hop.
        let (mut parts, _) = response.into_parts();
        parts.status = StatusCode::OK;
        for name in [
            header::UPGRADE,
            header::CONNECTION,
            header::SEC_WEBSOCKET_ACCEPT,
            header::CONTENT_LENGTH,
        ] {
            parts.headers.remove(name);
        }
        return Ok(Response::from_parts(parts, crate::respond::full("")));
    }
    Ok(response)
}

/// An RFC 8441 WebSocket request turned into the RFC 6455 handshake the upstream
/// expects: a GET with `Upgrade: websocket` and a fresh `Sec-WebSocket-Key`.
fn as_http1_websocket(request: &mut Request<Incoming>) -> Result<(), Refusal> {
    *request.method_mut() = Method::GET;
    request.extensions_mut().remove::<hyper::ext::Protocol>();
    let key = HeaderValue::try_from(websocket_key()).map_err(|_| Refusal::UpstreamError)?;
    request.headers_mut().insert(header::SEC_WEBSOCKET_KEY, key);
    Ok(())
}

/// A `Sec-WebSocket-Key` for the upstream hop: 16 random bytes, base64 (RFC 6455
/// §4.1).
fn websocket_key() -> String {
    let mut bytes = [0u8; 16];
    // The system generator does not fail where the gateway runs; the key only proves
    // the upstream speaks WebSocket, so a weak one would not weaken anything.
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// One upgraded connection, between the switch and the close.
struct Tunnel {
    open: OpenTunnel,
    route_name: String,
    protocol: String,
    peer: Option<SocketAddr>,
    claims: Option<Claims>,
    deadline: tokio::time::Instant,
    /// Why it closes if it is still open at `deadline`.
    at_deadline: CloseReason,
}

/// Counts one upgraded connection as open until dropped, whatever ends its task.
struct OpenTunnel {
    core: Arc<ProxyCore>,
    route: usize,
}

impl OpenTunnel {
    fn new(core: Arc<ProxyCore>, route: usize) -> OpenTunnel {
        let tunnels = &core.tunnels;
        if let Some(counters) = tunnels.routes.get(route) {
            counters.open.fetch_add(1, Ordering::Relaxed);
        }
        tunnels.signals.open.send_modify(|n| *n += 1);
        OpenTunnel { core, route }
    }

    fn closed(&self, reason: CloseReason) {
        if let Some(counters) = self.core.tunnels.routes.get(self.route) {
            counters.closed[reason as usize].fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Drop for OpenTunnel {
    fn drop(&mut self) {
        let tunnels = &self.core.tunnels;
        if let Some(counters) = tunnels.routes.get(self.route) {
            counters.open.fetch_sub(1, Ordering::Relaxed);
        }
        tunnels
            .signals
            .open
            .send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Tunnel {
    async fn run(self, client: OnUpgrade, upstream: OnUpgrade) {
        let started = tokio::time::Instant::now();
        let mut shutdown = self.open.core.tunnels.signals.shutdown.subscribe();
        let reason = tokio::select! {
            reason = relay(client, upstream) => reason,
            () = tokio::time::sleep_until(self.deadline) => self.at_deadline,
            _ = shutdown.wait_for(|stopping| *stopping) => CloseReason::Shutdown,
        };
        // Both ends were dropped with the relay: the connections are closed.
        self.open.closed(reason);
        let lifetime_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let claims = self.claims.as_ref();
        if self.open.core.config.access_log {
            tracing::info!(
                target: "portcullis_gateway::access",
                route = self.route_name,
                client = %self.peer.map_or_else(String::new, |p| p.ip().to_string()),
                protocol = self.protocol,
                reason = reason.label(),
                lifetime_ms,
                issuer = claims.and_then(Claims::issuer).unwrap_or(""),
                subject = claims.and_then(Claims::subject).unwrap_or(""),
                client_id = claims.and_then(Claims::client_id).unwrap_or(""),
                "upgrade closed"
            );
        } else {
            tracing::debug!(
                route = self.route_name,
                protocol = self.protocol,
                reason = reason.label(),
                lifetime_ms,
                "upgrade closed"
            );
        }
    }
}

/// Waits for both ends to switch, then copies bytes both ways until both have closed
/// (a half-close is passed on).
async fn relay(client: OnUpgrade, upstream: OnUpgrade) -> CloseReason {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(ends) => ends,
        Err(error) => {
            tracing::debug!(%error, "an upgrade did not complete");
            return CloseReason::Error;
        }
    };
    let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
    match tokio::io::copy_bidirectional(&mut client, &mut upstream).await {
        Ok(_) => CloseReason::Closed,
        Err(error) => {
            tracing::debug!(%error, "an upgraded connection failed");
            CloseReason::Error
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(protocols: &[&str]) -> UpgradePolicy {
        UpgradePolicy {
            protocols: protocols.iter().map(|p| (*p).to_owned()).collect(),
            max_lifetime: Duration::from_secs(3600),
            close_at_token_expiry: true,
        }
    }

    fn http1(headers: &[(&str, &str)]) -> Request<()> {
        let mut request = Request::builder().uri("/ws");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap()
    }

    #[test]
    fn only_allowed_protocols_are_asked_for() {
        let allowed = policy(&["websocket"]);
        let asked = |headers: &[(&str, &str)]| match requested(&http1(headers), Some(&allowed)) {
            Some(Requested::Http1(offer)) => Some(offer.to_str().unwrap().to_owned()),
            None => None,
            Some(other) => panic!("{other:?}"),
        };
        let ws = [
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "WebSocket"),
        ];
        assert_eq!(asked(&ws).as_deref(), Some("WebSocket"));
        // Without `Connection: upgrade` the header is not a request to switch.
        assert_eq!(asked(&[("upgrade", "websocket")]), None);
        // Protocols the route does not list are left out, or the upgrade ignored.
        assert_eq!(
            asked(&[("connection", "upgrade"), ("upgrade", "h2c, websocket")]).as_deref(),
            Some("websocket")
        );
        assert_eq!(
            asked(&[("connection", "upgrade"), ("upgrade", "h2c")]),
            None
        );
    }

    #[test]
    fn versions_match_a_bare_name() {
        let allowed = policy(&["websocket", "foo/2"]);
        assert!(allowed.allows("WEBSOCKET/13"));
        assert!(allowed.allows("foo/2"));
        assert!(!allowed.allows("foo/3"));
        assert!(!allowed.allows("foo"));
    }

    #[test]
    fn the_token_or_the_cap_whichever_first() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let cap = Duration::from_secs(600);
        assert_eq!(
            closing(Some(now + Duration::from_secs(90)), now, cap),
            (Duration::from_secs(90), CloseReason::TokenExpired)
        );
        assert_eq!(
            closing(Some(now + Duration::from_secs(900)), now, cap),
            (cap, CloseReason::MaxLifetime)
        );
        assert_eq!(closing(None, now, cap), (cap, CloseReason::MaxLifetime));
        // Already past: closed at once.
        assert_eq!(
            closing(Some(now - Duration::from_secs(1)), now, cap),
            (Duration::ZERO, CloseReason::TokenExpired)
        );
    }

    #[test]
    fn websocket_keys_are_sixteen_bytes_and_differ() {
        let decode = |k: &str| base64::engine::general_purpose::STANDARD.decode(k).unwrap();
        let (a, b) = (websocket_key(), websocket_key());
        assert_eq!(decode(&a).len(), 16);
        assert_ne!(a, b);
    }
}
