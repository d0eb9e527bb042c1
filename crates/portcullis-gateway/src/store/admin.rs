//! `POST /admin/revocations`: an operator's (or an authorization server hook's)
//! revocation, on the operations listener only, authenticated with the configured
//! bearer secret.
//!
//! The body is a JSON object naming exactly one of `token` (hashed at once, never kept
//! or logged), `token_hash` (its hash in hexadecimal), `jti`, `sub` or `client_id`,
//! and optionally `ttl_seconds` (how long the revocation lasts; defaults to
//! `[store] revocation_ttl`). `200` when every replica has it; `503` with
//! `Retry-After` when only this one does (the store could not be written: retry).

use std::time::Duration;

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use portcullis_issuer::{Revoked, SharedKeys, TokenHash};

use super::{SharedStore, Unshared};
use crate::Body;
use crate::respond;

/// Where the endpoint is served.
pub(crate) const ADMIN_PATH: &str = "/admin/revocations";
/// The largest body read.
const MAX_BODY: usize = 8 * 1024;
/// The longest value named (a `sub`, a `jti`, a token).
const MAX_VALUE: usize = 1024;
/// The longest lifetime a request may give.
const MAX_TTL: u64 = 30 * 24 * 3600;

fn json(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    respond::plain(status, "application/json", body.to_string())
}

fn bad_request(message: &str) -> Response<Body> {
    json(
        StatusCode::BAD_REQUEST,
        &serde_json::json!({ "error": message }),
    )
}

/// Whether `presented` is `expected`, in time independent of where they differ.
fn same_secret(presented: &[u8], expected: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(presented, expected).is_ok()
}

/// Answers `request` for [`ADMIN_PATH`].
pub(crate) async fn handle_admin(
    store: &SharedStore,
    request: Request<Incoming>,
) -> Response<Body> {
    let Some(expected) = store.admin_token() else {
        return respond::plain(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "not found\n",
        );
    };
    if request.method() != Method::POST {
        let mut response = respond::plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain; charset=utf-8",
            "POST only\n",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "));
    if !presented.is_some_and(|p| same_secret(p, expected.expose().as_bytes())) {
        tracing::warn!("admin request refused: no or wrong bearer secret");
        let mut response = json(
            StatusCode::UNAUTHORIZED,
            &serde_json::json!({ "error": "unauthorized" }),
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"portcullis-admin\""),
        );
        return response;
    }
    let body = match Limited::new(request.into_body(), MAX_BODY).collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => {
            return json(
                StatusCode::PAYLOAD_TOO_LARGE,
                &serde_json::json!({ "error": "body over 8 KiB" }),
            );
        }
    };
    let (revoked, ttl) = match parse(&body, store.revocations().keys()) {
        Ok(parsed) => parsed,
        Err(message) => return bad_request(message),
    };
    let kind = kind(&revoked);
    match store.revoke(revoked, ttl).await {
        Ok(()) => {
            tracing::info!(kind, "revoked on every replica");
            json(
                StatusCode::OK,
                &serde_json::json!({ "revoked": kind, "shared": true }),
            )
        }
        Err(Unshared::HereOnly) => {
            tracing::warn!(
                kind,
                "revoked on this replica only: the store could not be written"
            );
            let mut response = json(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({ "revoked": kind, "shared": false,
                    "error": "applied on this replica only: the store is unavailable; retry" }),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        Err(Unshared::Full) => {
            tracing::error!(kind, "revocation refused: the revocation set is full");
            json(
                StatusCode::SERVICE_UNAVAILABLE,
                &serde_json::json!({ "error": "the revocation set is full" }),
            )
        }
    }
}

fn kind(revoked: &Revoked) -> &'static str {
    match revoked {
        Revoked::Token(_) => "token",
        Revoked::JwtId(_) => "jti",
        Revoked::Subject(_) => "sub",
        Revoked::ClientId(_) => "client_id",
        _ => "other",
    }
}

fn parse(body: &[u8], keys: &SharedKeys) -> Result<(Revoked, Option<Duration>), &'static str> {
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(body).map_err(|_| "the body must be a JSON object")?;
    let mut ttl = None;
    let mut named = None;
    for (key, value) in &object {
        if key == "ttl_seconds" {
            let seconds = value
                .as_u64()
                .filter(|s| (1..=MAX_TTL).contains(s))
                .ok_or("ttl_seconds must be a whole number of seconds, 1 to 30 days")?;
            ttl = Some(Duration::from_secs(seconds));
            continue;
        }
        let text = value
            .as_str()
            .filter(|t| !t.is_empty() && t.len() <= MAX_VALUE)
            .ok_or("each value must be a string of 1 to 1024 bytes")?;
        let revoked = match key.as_str() {
            "token" => Revoked::Token(keys.hash(text)),
            "token_hash" => Revoked::Token(
                TokenHash::from_hex(text).ok_or("token_hash must be 64 hexadecimal digits")?,
            ),
            "jti" => Revoked::JwtId(text.to_owned()),
            "sub" => Revoked::Subject(text.to_owned()),
            "client_id" => Revoked::ClientId(text.to_owned()),
            _ => {
                return Err(
                    "unknown member: expected one of token, token_hash, jti, sub, client_id, ttl_seconds",
                );
            }
        };
        if named.replace(revoked).is_some() {
            return Err("name exactly one of token, token_hash, jti, sub, client_id");
        }
    }
    named
        .map(|revoked| (revoked, ttl))
        .ok_or("name one of token, token_hash, jti, sub, client_id")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_names_exactly_one_thing_within_bounds() {
        let keys = SharedKeys::new(&[1; 32]).unwrap();
        let parse = |body: &str| parse(body.as_bytes(), &keys);
        assert_eq!(
            parse(r#"{"token":"abc"}"#),
            Ok((Revoked::Token(keys.hash("abc")), None))
        );
        assert_eq!(
            parse(r#"{"sub":"alice","ttl_seconds":60}"#),
            Ok((
                Revoked::Subject("alice".into()),
                Some(Duration::from_secs(60))
            ))
        );
        let hash = keys.hash("t").to_hex();
        assert_eq!(
            parse(&format!(r#"{{"token_hash":"{hash}"}}"#)),
            Ok((Revoked::Token(keys.hash("t")), None))
        );
        assert!(parse(r#"{"jti":"j"}"#).is_ok());
        assert!(parse(r#"{"client_id":"c"}"#).is_ok());
        for bad in [
            "",
            "[]",
            "{}",
            r#"{"ttl_seconds":60}"#,
            r#"{"jti":"a","sub":"b"}"#,
            r#"{"jti":""}"#,
            r#"{"jti":7}"#,
            r#"{"scope":"x"}"#,
            r#"{"token_hash":"00"}"#,
            r#"{"sub":"a","ttl_seconds":0}"#,
            r#"{"sub":"a","ttl_seconds":99999999}"#,
            r#"{"sub":"a","ttl_seconds":"60"}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse(&format!(r#"{{"sub":"{}"}}"#, "x".repeat(1025))).is_err());
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"ab", b"abc"));
        assert!(!same_secret(b"", b"abc"));
    }
}
