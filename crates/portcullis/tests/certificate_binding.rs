//! Certificate-bound tokens (RFC 8705 §3) through the authentication layer: accepted
//! only with the client certificate they are bound to.
#![allow(clippy::unwrap_used)]

mod common;

use std::convert::Infallible;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use http::{Request, Response, StatusCode, header};
use portcullis::{AuthenticationLayer, ClientCertificate, Rejection, RejectionKind};
use serde_json::json;
use tower::{Layer, ServiceExt, service_fn};

const CERTIFICATE: &[u8] = b"the client's certificate, DER-encoded";

fn bound_token() -> String {
    let thumbprint = ClientCertificate::from_der(CERTIFICATE);
    key()
        .token()
        .standard_claims(ISSUER, AUDIENCE, NOW)
        .claim(
            "cnf",
            json!({ "x5t#S256": URL_SAFE_NO_PAD.encode(thumbprint.thumbprint()) }),
        )
        .sign()
}

async fn answer(token: &str, certificate: Option<ClientCertificate>) -> Response<String> {
    let service =
        AuthenticationLayer::new(verifier()).layer(service_fn(|_: Request<String>| async {
            Ok::<_, Infallible>(Response::new("ok".to_owned()))
        }));
    let mut request = Request::builder()
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(String::new())
        .unwrap();
    if let Some(certificate) = certificate {
        request.extensions_mut().insert(certificate);
    }
    service.oneshot(request).await.unwrap()
}

#[tokio::test]
async fn a_certificate_bound_token_needs_its_certificate() {
    let token = bound_token();
    let with = answer(&token, Some(ClientCertificate::from_der(CERTIFICATE))).await;
    assert_eq!(with.status(), StatusCode::OK);

    for (certificate, description) in [
        (
            None,
            "certificate-bound token sent without its client certificate",
        ),
        (
            Some(ClientCertificate::from_der(b"another certificate")),
            "certificate-bound token sent with another client certificate",
        ),
    ] {
        let refused = answer(&token, certificate).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        let rejection = refused.extensions().get::<Rejection>().unwrap();
        assert_eq!(rejection.kind(), RejectionKind::InvalidToken);
        assert_eq!(rejection.description(), description);
    }
}

#[tokio::test]
async fn an_unbound_token_needs_no_certificate() {
    assert_eq!(answer(&token("read"), None).await.status(), StatusCode::OK);
    assert_eq!(
        answer(
            &token("read"),
            Some(ClientCertificate::from_der(CERTIFICATE))
        )
        .await
        .status(),
        StatusCode::OK
    );
}
