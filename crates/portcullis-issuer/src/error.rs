//! Errors of configuration and of talking to the issuer.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// A boxed error from a pluggable HTTP client.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

pub use portcullis_jwt::ConfigError;

/// What went wrong fetching a document from the issuer. Matches need a wildcard arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FetchErrorKind {
    /// The URL is not `https` (and not plain `http` to a loopback address or with the
    /// explicit opt-in), or is not a valid absolute URL.
    InsecureUrl,
    /// Connecting, TLS, or the HTTP exchange failed.
    Transport,
    /// The connect or total timeout elapsed.
    Timeout,
    /// The server answered with a redirect, which is never followed.
    Redirect,
    /// The server answered with a status other than 200.
    Status,
    /// The `Content-Type` is not one the document may have.
    ContentType,
    /// The body is larger than the configured cap.
    TooLarge,
    /// The body is not a valid document (not JSON, not a JWK Set, metadata without the
    /// required members).
    InvalidDocument,
    /// The discovery document's `issuer` differs from the configured issuer.
    IssuerMismatch,
    /// The JWK Set parsed, but none of its keys is usable.
    NoUsableKeys,
    /// The fetch was abandoned before it finished.
    Cancelled,
}

impl FetchErrorKind {
    /// A short description for logs.
    pub const fn description(self) -> &'static str {
        match self {
            FetchErrorKind::InsecureUrl => "URL refused (https required)",
            FetchErrorKind::Transport => "connection or HTTP failure",
            FetchErrorKind::Timeout => "timed out",
            FetchErrorKind::Redirect => "redirect refused",
            FetchErrorKind::Status => "unexpected HTTP status",
            FetchErrorKind::ContentType => "unexpected content type",
            FetchErrorKind::TooLarge => "response body too large",
            FetchErrorKind::InvalidDocument => "invalid document",
            FetchErrorKind::IssuerMismatch => "discovery issuer mismatch",
            FetchErrorKind::NoUsableKeys => "no usable key in the JWK Set",
            FetchErrorKind::Cancelled => "fetch cancelled",
        }
    }
}

/// A failed fetch of a discovery document or JWK Set. Cheap to clone: every request
/// that waited for the same fetch shares one error.
#[derive(Clone)]
pub struct FetchError {
    inner: Arc<FetchErrorInner>,
}

struct FetchErrorInner {
    kind: FetchErrorKind,
    url: Option<String>,
    status: Option<http::StatusCode>,
    detail: Option<Cow<'static, str>>,
    source: Option<BoxError>,
}

impl FetchError {
    pub(crate) fn new(kind: FetchErrorKind) -> FetchError {
        FetchError {
            inner: Arc::new(FetchErrorInner {
                kind,
                url: None,
                status: None,
                detail: None,
                source: None,
            }),
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut FetchErrorInner)) -> FetchError {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            f(inner);
        }
        self
    }

    pub(crate) fn with_detail(self, detail: impl Into<Cow<'static, str>>) -> FetchError {
        let detail = detail.into();
        self.edit(|inner| inner.detail = Some(detail))
    }

    pub(crate) fn with_url(self, url: impl fmt::Display) -> FetchError {
        let url = url.to_string();
        self.edit(|inner| inner.url = Some(url))
    }

    pub(crate) fn with_status(self, status: http::StatusCode) -> FetchError {
        self.edit(|inner| inner.status = Some(status))
    }

    pub(crate) fn with_source(self, source: BoxError) -> FetchError {
        self.edit(|inner| inner.source = Some(source))
    }

    /// What went wrong.
    pub fn kind(&self) -> FetchErrorKind {
        self.inner.kind
    }

    /// The URL fetched, when known.
    pub fn url(&self) -> Option<&str> {
        self.inner.url.as_deref()
    }

    /// The HTTP status, for [`FetchErrorKind::Status`] and [`FetchErrorKind::Redirect`].
    pub fn status(&self) -> Option<http::StatusCode> {
        self.inner.status
    }
}

impl fmt::Debug for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FetchError")
            .field("kind", &self.inner.kind)
            .field("url", &self.inner.url)
            .field("status", &self.inner.status)
            .field("detail", &self.inner.detail)
            .field("source", &self.inner.source)
            .finish()
    }
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.inner.kind.description())?;
        if let Some(status) = self.inner.status {
            write!(f, " ({status})")?;
        }
        if let Some(detail) = &self.inner.detail {
            write!(f, ": {detail}")?;
        }
        if let Some(url) = &self.inner.url {
            write!(f, " [{url}]")?;
        }
        if let Some(source) = &self.inner.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl std::error::Error for FetchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|e| &**e as &(dyn std::error::Error + 'static))
    }
}
