//! Authorization server metadata: OpenID Connect discovery and RFC 8414.

use http::Uri;
use serde::Deserialize;

use crate::error::{ConfigError, FetchError, FetchErrorKind};
use crate::http::HttpClient;

/// Which well-known documents discovery reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum DiscoveryMode {
    /// OpenID Connect discovery first; if that fails for any reason but an issuer
    /// mismatch, RFC 8414. The default.
    #[default]
    OpenIdThenOAuth,
    /// Only `{issuer}/.well-known/openid-configuration`.
    OpenId,
    /// Only RFC 8414 `/.well-known/oauth-authorization-server{path}`.
    OAuth,
}

/// What an authorization server says about itself, after checking that its `issuer`
/// is exactly the configured one (RFC 8414 §3.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuerMetadata {
    issuer: String,
    jwks_uri: Option<String>,
    introspection_endpoint: Option<String>,
    introspection_auth_methods: Vec<String>,
    signing_algorithms: Vec<String>,
}

#[derive(Deserialize)]
struct Document {
    issuer: Option<String>,
    #[serde(default)]
    jwks_uri: Option<String>,
    #[serde(default)]
    introspection_endpoint: Option<String>,
    #[serde(default)]
    introspection_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    id_token_signing_alg_values_supported: Option<Vec<String>>,
}

impl IssuerMetadata {
    /// Fetches and checks the metadata of `issuer`.
    ///
    /// # Errors
    /// A malformed issuer URL ([`FetchErrorKind::InsecureUrl`]), any HTTP failure, an
    /// invalid document, or [`FetchErrorKind::IssuerMismatch`].
    pub async fn discover(
        http: &HttpClient,
        issuer: &str,
        mode: DiscoveryMode,
    ) -> Result<IssuerMetadata, FetchError> {
        let urls = well_known_urls(issuer).map_err(|e| {
            FetchError::new(FetchErrorKind::InsecureUrl).with_detail(e.message().to_owned())
        })?;
        let fetch = |url: String| async move {
            let uri = http.check_url(&url)?;
            let fetched = http
                .get(&uri, "application/json", &["application/json"])
                .await?;
            IssuerMetadata::from_json(issuer, &fetched.body).map_err(|e| e.with_url(&url))
        };
        match mode {
            DiscoveryMode::OpenId => fetch(urls.openid).await,
            DiscoveryMode::OAuth => fetch(urls.oauth).await,
            DiscoveryMode::OpenIdThenOAuth => match fetch(urls.openid).await {
                Ok(metadata) => Ok(metadata),
                Err(e) if e.kind() == FetchErrorKind::IssuerMismatch => Err(e),
                Err(first) => {
                    tracing::debug!(error = %first, "OpenID discovery failed; trying RFC 8414");
                    fetch(urls.oauth).await
                }
            },
        }
    }

    /// Parses a metadata document and checks its `issuer` against `expected_issuer`.
    ///
    /// # Errors
    /// [`FetchErrorKind::InvalidDocument`] or [`FetchErrorKind::IssuerMismatch`].
    pub fn from_json(expected_issuer: &str, document: &[u8]) -> Result<IssuerMetadata, FetchError> {
        let invalid = |detail: &'static str| {
            FetchError::new(FetchErrorKind::InvalidDocument).with_detail(detail)
        };
        // serde's derived structs also read arrays (`["https://as.example"]` would be an
        // issuer): insist on an object, as RFC 8414 §3.2 does.
        let is_object = document
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'{');
        if !is_object {
            return Err(invalid("not a JSON metadata object"));
        }
        // JSON is UTF-8 (RFC 8259 §8.1), and serde_json does not check the members it
        // skips: check the whole document first.
        let document =
            std::str::from_utf8(document).map_err(|_| invalid("not a JSON metadata object"))?;
        let document: Document =
            serde_json::from_str(document).map_err(|_| invalid("not a JSON metadata object"))?;
        let issuer = document.issuer.ok_or_else(|| invalid("no issuer"))?;
        if issuer != expected_issuer {
            return Err(
                FetchError::new(FetchErrorKind::IssuerMismatch).with_detail(format!(
                    "expected {expected_issuer:?}, the document says {:?}",
                    issuer.chars().take(200).collect::<String>()
                )),
            );
        }
        Ok(IssuerMetadata {
            issuer,
            jwks_uri: document.jwks_uri,
            introspection_endpoint: document.introspection_endpoint,
            introspection_auth_methods: document
                .introspection_endpoint_auth_methods_supported
                .unwrap_or_default(),
            signing_algorithms: document
                .id_token_signing_alg_values_supported
                .unwrap_or_default(),
        })
    }

    /// The issuer identifier, equal to the configured one.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// `jwks_uri`, the JWK Set URL.
    pub fn jwks_uri(&self) -> Option<&str> {
        self.jwks_uri.as_deref()
    }

    /// `introspection_endpoint` (RFC 7662).
    pub fn introspection_endpoint(&self) -> Option<&str> {
        self.introspection_endpoint.as_deref()
    }

    /// `introspection_endpoint_auth_methods_supported`.
    pub fn introspection_auth_methods(&self) -> &[String] {
        &self.introspection_auth_methods
    }

    /// The signing algorithms the server advertises
    /// (`id_token_signing_alg_values_supported`; no metadata member describes access
    /// tokens, and most servers sign both alike). Advisory only: the verifier's
    /// allow-list is configured, never taken from here.
    pub fn signing_algorithms(&self) -> &[String] {
        &self.signing_algorithms
    }
}

pub(crate) struct WellKnown {
    pub(crate) openid: String,
    pub(crate) oauth: String,
}

/// The discovery URLs of `issuer`: OpenID Connect appends to the whole issuer;
/// RFC 8414 §3.1 inserts the well-known segment between the origin and the path.
pub(crate) fn well_known_urls(issuer: &str) -> Result<WellKnown, ConfigError> {
    let uri: Uri = issuer
        .parse()
        .map_err(|_| ConfigError::custom("the issuer is not a valid URL"))?;
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(ConfigError::custom("the issuer must be an absolute URL"));
    };
    if uri.query().is_some() || issuer.contains('#') {
        return Err(ConfigError::custom(
            "the issuer must have no query or fragment (RFC 8414 §2)",
        ));
    }
    let path = uri.path().trim_end_matches('/');
    Ok(WellKnown {
        openid: format!("{scheme}://{authority}{path}/.well-known/openid-configuration"),
        oauth: format!("{scheme}://{authority}/.well-known/oauth-authorization-server{path}"),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn path_insertion() {
        let urls = well_known_urls("https://as.example/tenant/a").unwrap();
        assert_eq!(
            urls.openid,
            "https://as.example/tenant/a/.well-known/openid-configuration"
        );
        assert_eq!(
            urls.oauth,
            "https://as.example/.well-known/oauth-authorization-server/tenant/a"
        );
        let urls = well_known_urls("https://as.example").unwrap();
        assert_eq!(
            urls.openid,
            "https://as.example/.well-known/openid-configuration"
        );
        assert_eq!(
            urls.oauth,
            "https://as.example/.well-known/oauth-authorization-server"
        );
        let urls = well_known_urls("https://as.example/").unwrap();
        assert_eq!(
            urls.oauth,
            "https://as.example/.well-known/oauth-authorization-server"
        );
        assert!(well_known_urls("https://as.example/?x=1").is_err());
        assert!(well_known_urls("https://as.example/#f").is_err());
        assert!(well_known_urls("as.example").is_err());
    }

    #[test]
    fn issuer_must_match_exactly() {
        let doc = br#"{"issuer":"https://as.example/","jwks_uri":"https://as.example/k"}"#;
        let error = IssuerMetadata::from_json("https://as.example", doc).unwrap_err();
        assert_eq!(error.kind(), FetchErrorKind::IssuerMismatch);
        let ok = IssuerMetadata::from_json("https://as.example/", doc).unwrap();
        assert_eq!(ok.jwks_uri(), Some("https://as.example/k"));
        for bad in [&b"[]"[..], b"{}", b"{\"issuer\":1}", b"not json"] {
            let error = IssuerMetadata::from_json("https://as.example/", bad).unwrap_err();
            assert_eq!(error.kind(), FetchErrorKind::InvalidDocument);
        }
    }

    /// Found by the `discovery` fuzz target: serde's derived reader took a JSON array
    /// for the metadata object, its elements filling the members in order.
    #[test]
    fn an_array_is_not_a_metadata_document() {
        let array = br#"["https://as.example","https://as.example/jwks"]"#;
        let error = IssuerMetadata::from_json("https://as.example", array).unwrap_err();
        assert_eq!(error.kind(), FetchErrorKind::InvalidDocument);
        // Nor is a document with invalid UTF-8 in a member the reader skips.
        let latin1 = b"{\"issuer\":\"https://as.example\",\"x\":\"caf\xe9\"}";
        let error = IssuerMetadata::from_json("https://as.example", latin1).unwrap_err();
        assert_eq!(error.kind(), FetchErrorKind::InvalidDocument);
        let object = br#" {"issuer":"https://as.example","jwks_uri":"https://as.example/jwks"}"#;
        let metadata = IssuerMetadata::from_json("https://as.example", object).unwrap();
        assert_eq!(metadata.jwks_uri(), Some("https://as.example/jwks"));
    }
}
