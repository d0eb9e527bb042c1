//! The HTTP rules every request to the issuer follows, and the pluggable transport.

use std::fmt;
use std::future::{Future, poll_fn};
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::{HeaderMap, Request, Response, StatusCode, Uri, header};
use http_body::Body;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use tower_service::Service;

use crate::error::{BoxError, ConfigError, FetchError, FetchErrorKind};

/// The default connect timeout: 3 seconds.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The default total timeout of one request, body included: 5 seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The default cap on a response body: 1 MiB.
pub const DEFAULT_MAX_BODY_SIZE: usize = 1024 * 1024;

/// The body a transport returns: any [`http_body::Body`] of bytes. (Not the layers'
/// `portcullis::ResponseBody`, which builds refusal bodies.)
pub type TransportBody = UnsyncBoxBody<Bytes, BoxError>;

type SendFuture = Pin<Box<dyn Future<Output = Result<Response<TransportBody>, BoxError>> + Send>>;

trait Transport: Send + Sync + 'static {
    fn send(&self, request: Request<Full<Bytes>>) -> SendFuture;
    /// What `Debug` shows: the built-in transport or a custom one.
    fn name(&self) -> &'static str;
}

impl fmt::Debug for dyn Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A custom TLS configuration, shown as set rather than as its root store.
struct TlsConfig(rustls::ClientConfig);

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsConfig(..)")
    }
}

/// A tower service as the transport; `custom` unless it is the built-in client.
struct ServiceTransport<S> {
    service: S,
    custom: bool,
}

impl<S, B> Transport for ServiceTransport<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    fn send(&self, request: Request<Full<Bytes>>) -> SendFuture {
        // Clone-and-ready, as tower services expect: the clone is ours alone.
        let mut service = self.service.clone();
        Box::pin(async move {
            poll_fn(|cx| service.poll_ready(cx))
                .await
                .map_err(Into::into)?;
            let response = service.call(request).await.map_err(Into::into)?;
            Ok(response.map(|body| {
                body.map_frame(|frame| {
                    frame.map_data(|mut data| data.copy_to_bytes(data.remaining()))
                })
                .map_err(Into::into)
                .boxed_unsync()
            }))
        })
    }

    fn name(&self) -> &'static str {
        if self.custom {
            "CustomTransport"
        } else {
            "BuiltinTransport"
        }
    }
}

/// The HTTP client for discovery, JWK Sets and introspection, with the rules
/// every request follows: `https` only (plain `http` only to loopback addresses, or
/// with [`crate::dangerous::allow_plain_http`]), connect and total timeouts, a body
/// cap enforced while reading, no redirects, 200 only, and a checked `Content-Type`.
///
/// The transport is pluggable ([`HttpClientBuilder::transport`]): any tower
/// `Service<http::Request<Full<Bytes>>>` can replace the built-in hyper + rustls
/// client, for a custom CA, a proxy, or mTLS. The rules above apply to it too.
///
/// Cheap to clone.
#[derive(Clone, Debug)]
pub struct HttpClient {
    inner: Arc<ClientInner>,
}

#[derive(Debug)]
struct ClientInner {
    transport: Box<dyn Transport>,
    settings: Settings,
}

/// The builder's settings, kept by the client.
#[derive(Clone, Copy, Debug)]
struct Settings {
    timeout: Duration,
    connect_timeout: Duration,
    max_body_size: usize,
    allow_plain_http: bool,
}

/// Configures an [`HttpClient`]. Start with [`HttpClient::builder`].
#[derive(Debug)]
#[must_use]
pub struct HttpClientBuilder {
    settings: Settings,
    tls: Option<TlsConfig>,
    transport: Option<Box<dyn Transport>>,
}

impl HttpClient {
    /// The built-in client with the defaults.
    ///
    /// # Panics
    /// Never in practice: the default configuration is valid.
    pub fn new() -> HttpClient {
        HttpClient::builder()
            .build()
            .unwrap_or_else(|e| unreachable!("the default HTTP configuration is valid: {e}"))
    }

    /// Configures a client.
    pub fn builder() -> HttpClientBuilder {
        HttpClientBuilder {
            settings: Settings {
                timeout: DEFAULT_TIMEOUT,
                connect_timeout: DEFAULT_CONNECT_TIMEOUT,
                max_body_size: DEFAULT_MAX_BODY_SIZE,
                allow_plain_http: false,
            },
            tls: None,
            transport: None,
        }
    }

    /// The total timeout of one request.
    pub fn timeout(&self) -> Duration {
        self.inner.settings.timeout
    }

    /// The response body cap.
    pub fn max_body_size(&self) -> usize {
        self.inner.settings.max_body_size
    }

    /// Checks that `url` may be fetched under this client's rules.
    ///
    /// # Errors
    /// [`FetchErrorKind::InsecureUrl`].
    pub fn check_url(&self, url: &str) -> Result<Uri, FetchError> {
        check_url(url, self.inner.settings.allow_plain_http)
    }

    /// GETs `url` and returns the body, after every rule: scheme, timeouts, 200 only,
    /// no redirect, `Content-Type` among `content_types` (parameters ignored), body cap.
    pub(crate) async fn get(
        &self,
        url: &Uri,
        accept: &'static str,
        content_types: &[&str],
    ) -> Result<Fetched, FetchError> {
        let request = Request::get(url.clone())
            .header(header::ACCEPT, accept)
            .body(Full::new(Bytes::new()));
        self.exchange(url, request, &[StatusCode::OK], content_types)
            .await
    }

    /// POSTs an `application/x-www-form-urlencoded` body to `url` (RFC 7662
    /// introspection), with an optional `Authorization` header, under the same rules as
    /// [`HttpClient::get`], except that a `400 Bad Request` is returned too (see
    /// [`Fetched::status`]): its body may be an RFC 6749 §5.2 error object, an answer
    /// about the token that the caller reads. Every other rule applies to it.
    pub(crate) async fn post_form(
        &self,
        url: &Uri,
        authorization: Option<&str>,
        body: String,
        content_types: &[&str],
    ) -> Result<Fetched, FetchError> {
        let mut request = Request::post(url.clone())
            .header(header::ACCEPT, "application/json")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(authorization) = authorization {
            request = request.header(header::AUTHORIZATION, authorization);
        }
        let request = request.body(Full::new(Bytes::from(body)));
        self.exchange(
            url,
            request,
            &[StatusCode::OK, StatusCode::BAD_REQUEST],
            content_types,
        )
        .await
    }

    /// Sends `request`; an answer whose status is not in `statuses` is an error.
    async fn exchange(
        &self,
        url: &Uri,
        request: Result<Request<Full<Bytes>>, http::Error>,
        statuses: &[StatusCode],
        content_types: &[&str],
    ) -> Result<Fetched, FetchError> {
        let inner = &*self.inner;
        let Settings {
            timeout,
            max_body_size,
            ..
        } = inner.settings;
        let attempt = async {
            let mut request = request
                .map_err(|e| FetchError::new(FetchErrorKind::InsecureUrl).with_source(e.into()))?;
            request.headers_mut().insert(
                header::USER_AGENT,
                http::HeaderValue::from_static(concat!("portcullis/", env!("CARGO_PKG_VERSION"))),
            );
            let response = inner
                .transport
                .send(request)
                .await
                .map_err(classify_transport_error)?;
            let status = response.status();
            if status.is_redirection() {
                return Err(FetchError::new(FetchErrorKind::Redirect).with_status(status));
            }
            if !statuses.contains(&status) {
                return Err(FetchError::new(FetchErrorKind::Status).with_status(status));
            }
            check_content_type(response.headers(), content_types)?;
            let (parts, body) = response.into_parts();
            let body = read_capped(body, &parts.headers, max_body_size).await?;
            Ok(Fetched {
                status,
                headers: parts.headers,
                body,
            })
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::new(FetchErrorKind::Timeout)
                .with_detail(format!("no complete answer within {timeout:?}"))),
        }
        .map_err(|e| e.with_url(url))
    }
}

impl Default for HttpClient {
    fn default() -> Self {
        HttpClient::new()
    }
}

impl HttpClientBuilder {
    /// The total time one request may take, from connecting to the last body byte.
    /// Defaults to [`DEFAULT_TIMEOUT`] (5 s). Applies to custom transports too.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.settings.timeout = timeout;
        self
    }

    /// The time a TCP connection may take to establish. Defaults to
    /// [`DEFAULT_CONNECT_TIMEOUT`] (3 s). Built-in transport only.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.settings.connect_timeout = timeout;
        self
    }

    /// The largest response body read; a longer one is an error, detected while
    /// reading. Defaults to [`DEFAULT_MAX_BODY_SIZE`] (1 MiB).
    pub fn max_body_size(mut self, bytes: usize) -> Self {
        self.settings.max_body_size = bytes;
        self
    }

    /// The TLS configuration of the built-in transport (custom roots, client
    /// certificates). Defaults to TLS 1.2+ with the aws-lc-rs provider and the
    /// Mozilla root store compiled in (`webpki-roots`).
    pub fn tls_config(mut self, config: rustls::ClientConfig) -> Self {
        self.tls = Some(TlsConfig(config));
        self
    }

    /// Replaces the built-in transport with any tower service: a proxy, a custom
    /// connector, a test double. Its response body may be any [`http_body::Body`].
    ///
    /// The client's rules (scheme, total timeout, body cap, status, content type, no
    /// redirects) still apply; the connect timeout and TLS settings are the service's
    /// business.
    pub fn transport<S, B>(mut self, service: S) -> Self
    where
        S: Service<Request<Full<Bytes>>, Response = Response<B>> + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        self.transport = Some(Box::new(ServiceTransport {
            service,
            custom: true,
        }));
        self
    }

    pub(crate) fn plain_http(mut self) -> Self {
        self.settings.allow_plain_http = true;
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// A zero timeout or body cap, or a connect timeout longer than the total timeout.
    pub fn build(self) -> Result<HttpClient, ConfigError> {
        if self.settings.timeout.is_zero() {
            return Err(ConfigError::for_setting(
                "timeout",
                "HTTP timeouts must be positive",
            ));
        }
        if self.settings.connect_timeout.is_zero()
            || self.settings.connect_timeout > self.settings.timeout
        {
            return Err(ConfigError::for_setting(
                "connect_timeout",
                "the connect timeout must be positive and not exceed the total timeout",
            ));
        }
        if self.settings.max_body_size == 0 {
            return Err(ConfigError::for_setting(
                "max_body_size",
                "the response body cap must be positive",
            ));
        }
        if self.settings.allow_plain_http {
            tracing::warn!(
                "plain http allowed to any host: tokens could be verified with keys an \
                 attacker on the network supplied"
            );
        }
        let transport = match self.transport {
            Some(transport) => transport,
            None => builtin_transport(self.tls.map(|tls| tls.0), self.settings.connect_timeout)?,
        };
        Ok(HttpClient {
            inner: Arc::new(ClientInner {
                transport,
                settings: self.settings,
            }),
        })
    }
}

fn builtin_transport(
    tls: Option<rustls::ClientConfig>,
    connect_timeout: Duration,
) -> Result<Box<dyn Transport>, ConfigError> {
    use hyper_util::client::legacy::Client;
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::TokioExecutor;

    let tls = match tls {
        Some(tls) => tls,
        None => {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|e| ConfigError::custom(format!("TLS configuration: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth()
        }
    };
    let mut http = HttpConnector::new();
    // The scheme was checked before the request; the TLS connector decides per URL.
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(https);
    Ok(Box::new(ServiceTransport {
        service: client,
        custom: false,
    }))
}

/// An answer that passed every check: a 200, or another status the request allowed.
pub(crate) struct Fetched {
    /// `200 OK` unless the request allowed another ([`HttpClient::post_form`]).
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

fn classify_transport_error(error: BoxError) -> FetchError {
    // The built-in client reports connect timeouts as a source chain ending in a
    // "timed out" io error: name them so operators see "timeout".
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&*error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return FetchError::new(FetchErrorKind::Timeout).with_source(error);
        }
        source = e.source();
    }
    FetchError::new(FetchErrorKind::Transport).with_source(error)
}

fn check_content_type(headers: &HeaderMap, allowed: &[&str]) -> Result<(), FetchError> {
    let value = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = value.split(';').next().unwrap_or("").trim();
    if allowed.iter().any(|a| essence.eq_ignore_ascii_case(a)) {
        Ok(())
    } else {
        Err(FetchError::new(FetchErrorKind::ContentType)
            .with_detail(format!("{:?}", value.chars().take(64).collect::<String>())))
    }
}

async fn read_capped(
    mut body: TransportBody,
    headers: &HeaderMap,
    cap: usize,
) -> Result<Bytes, FetchError> {
    let too_large =
        || FetchError::new(FetchErrorKind::TooLarge).with_detail(format!("over {cap} bytes"));
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > cap as u64) {
        return Err(too_large());
    }
    let mut buffer = Vec::with_capacity(declared.map_or(8 * 1024, |n| n as usize).min(cap));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| FetchError::new(FetchErrorKind::Transport).with_source(e))?;
        if let Ok(data) = frame.into_data() {
            if buffer.len() + data.len() > cap {
                return Err(too_large());
            }
            buffer.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buffer))
}

/// The URL rule every fetch is held to, for callers without a client (configuration
/// checks): `https`, or plain `http` to a loopback host only.
///
/// # Errors
/// [`FetchErrorKind::InsecureUrl`], with what is wrong.
pub fn check_fetch_url(url: &str) -> Result<Uri, FetchError> {
    check_url(url, false)
}

/// Parses `url` and checks the scheme policy.
pub(crate) fn check_url(url: &str, allow_plain_http: bool) -> Result<Uri, FetchError> {
    let insecure = |detail: &'static str| {
        FetchError::new(FetchErrorKind::InsecureUrl)
            .with_detail(detail)
            .with_url(url)
    };
    let uri: Uri = url.parse().map_err(|_| insecure("not a valid URL"))?;
    let Some(host) = uri.host() else {
        return Err(insecure("not an absolute URL"));
    };
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if allow_plain_http || is_loopback(host) => Ok(uri),
        Some("http") => Err(insecure("plain http is only allowed to loopback addresses")),
        _ => Err(insecure("the scheme must be https")),
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A transport that never answers.
    #[derive(Clone)]
    struct Refuse;

    impl Service<Request<Full<Bytes>>> for Refuse {
        type Response = Response<Full<Bytes>>;
        type Error = BoxError;
        type Future = std::future::Ready<Result<Self::Response, BoxError>>;

        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), BoxError>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request<Full<Bytes>>) -> Self::Future {
            std::future::ready(Err("refused".into()))
        }
    }

    #[test]
    fn debug_shows_the_settings_and_which_transport() {
        let builtin = format!("{:?}", HttpClient::new());
        assert!(builtin.contains("BuiltinTransport"), "{builtin}");
        assert!(builtin.contains("max_body_size: 1048576"), "{builtin}");
        let custom = HttpClient::builder().transport(Refuse);
        let debug = format!("{custom:?}");
        assert!(debug.contains("CustomTransport"), "{debug}");
        assert!(debug.contains("tls: None"), "{debug}");
        let debug = format!("{:?}", custom.build().unwrap());
        assert!(debug.contains("CustomTransport"), "{debug}");
    }

    #[test]
    fn scheme_policy() {
        assert!(check_url("https://issuer.example/jwks", false).is_ok());
        assert!(check_url("http://127.0.0.1:8080/jwks", false).is_ok());
        assert!(check_url("http://127.1.2.3/jwks", false).is_ok());
        assert!(check_url("http://[::1]:9/jwks", false).is_ok());
        assert!(check_url("http://localhost/jwks", false).is_ok());
        for refused in [
            "http://issuer.example/jwks",
            "http://127.0.0.1.evil.example/jwks",
            "ftp://issuer.example/jwks",
            "/jwks",
            "not a url",
        ] {
            let error = check_url(refused, false).unwrap_err();
            assert_eq!(error.kind(), FetchErrorKind::InsecureUrl, "{refused}");
        }
        assert!(check_url("http://issuer.example/jwks", true).is_ok());
    }

    #[test]
    fn content_types() {
        let allowed = ["application/json", "application/jwk-set+json"];
        for (value, ok) in [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("Application/JWK-Set+JSON", true),
            ("text/html", false),
            ("application/jsonx", false),
            ("", false),
        ] {
            let mut headers = HeaderMap::new();
            if !value.is_empty() {
                headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            }
            assert_eq!(
                check_content_type(&headers, &allowed).is_ok(),
                ok,
                "{value}"
            );
        }
    }

    #[test]
    fn bad_configuration_is_refused() {
        assert!(
            HttpClient::builder()
                .timeout(Duration::ZERO)
                .build()
                .is_err()
        );
        assert!(HttpClient::builder().max_body_size(0).build().is_err());
        assert!(
            HttpClient::builder()
                .connect_timeout(Duration::from_secs(10))
                .timeout(Duration::from_secs(1))
                .build()
                .is_err()
        );
    }
}
