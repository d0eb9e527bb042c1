//! Certificate-bound tokens behind a TLS-terminating proxy: `[mtls]` names the header
//! the proxy writes the client certificate into and the peers that are that proxy; the
//! header is believed from them only, and a certificate-bound token passes only with its
//! certificate.

#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{AUDIENCE, Answer, Gateway, Http, refused};
use http::StatusCode;
use portcullis::ClientCertificate;
use portcullis_testkit::EchoUpstream;
use portcullis_testkit::fixture::unix_now;
use serde_json::json;

const CERTIFICATE: &[u8] = b"the client's certificate, DER-encoded";

fn xfcc(der: &[u8]) -> String {
    let hash: String = ClientCertificate::from_der(der)
        .thumbprint()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("By=spiffe://gateway;Hash={hash};Subject=\"CN=client\"")
}

#[test]
fn the_mtls_section_is_checked_at_its_key_paths() {
    let section =
        "[mtls]\ncertificate_header = \"x-forwarded-client-cert\"\nformat = \"envoy-xfcc\"\n";
    assert_eq!(
        refused(&format!("{section}trusted_proxies = []\n")).0,
        "mtls.trusted_proxies"
    );
    assert_eq!(
        refused(&format!("{section}trusted_proxies = [\"10.0.0.1/8\"]\n")).0,
        "mtls.trusted_proxies[0]"
    );
    assert_eq!(
        refused(
            "[mtls]\ncertificate_header = \"x\"\nformat = \"pem\"\ntrusted_proxies = [\"10.0.0.0/8\"]\n"
        )
        .0,
        "mtls.format"
    );
    assert_eq!(
        refused("[mtls]\ncertificate_header = \"bad header\"\nformat = \"envoy-xfcc\"\ntrusted_proxies = [\"::1\"]\n").0,
        "mtls.certificate_header"
    );
}

/// A gateway trusting `proxies` for the certificate header, a token bound to
/// [`CERTIFICATE`] and an unbound one; the issuer and upstream stop with it.
struct World {
    gateway: Gateway,
    bound: String,
    unbound: String,
    _issuer: portcullis_testkit::TestIssuer,
    _upstream: EchoUpstream,
}

async fn gateway_trusting(proxies: &str) -> World {
    let common::World {
        gateway,
        issuer,
        upstream,
    } = common::World::start(&format!(
        "[mtls]\ncertificate_header = \"x-forwarded-client-cert\"\nformat = \"envoy-xfcc\"\n\
         trusted_proxies = [{proxies}]\n\n[[routes]]\nname = \"all\"\npath_prefix = \"/\"\n"
    ))
    .await;
    let x5t = URL_SAFE_NO_PAD.encode(ClientCertificate::from_der(CERTIFICATE).thumbprint());
    let bound = issuer.mint_with(AUDIENCE, unix_now(), |token| {
        token.claim("cnf", json!({ "x5t#S256": x5t }))
    });
    let unbound = issuer.mint_with(AUDIENCE, unix_now(), |token| token);
    World {
        gateway,
        bound,
        unbound,
        _issuer: issuer,
        _upstream: upstream,
    }
}

impl World {
    /// `GET /orders` with `token` and, if given, the proxy's certificate header.
    async fn get(&self, token: &str, certificate: Option<&str>) -> Answer {
        let headers: Vec<(&str, &str)> = certificate
            .map(|value| ("x-forwarded-client-cert", value))
            .into_iter()
            .collect();
        Http::http1()
            .get(&self.gateway.url("/orders"), Some(token), &headers)
            .await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_bound_token_passes_only_with_its_certificate() {
    let world = gateway_trusting("\"127.0.0.1\"").await;
    let mine = xfcc(CERTIFICATE);
    let ok = world.get(&world.bound, Some(&mine)).await;
    assert_eq!(ok.status, StatusCode::OK);

    let other = xfcc(b"another certificate");
    for (certificate, description) in [
        (
            Some(other.as_str()),
            "certificate-bound token sent with another client certificate",
        ),
        (
            None,
            "certificate-bound token sent without its client certificate",
        ),
    ] {
        world
            .get(&world.bound, certificate)
            .await
            .assert_challenge_contains(
                StatusCode::UNAUTHORIZED,
                &format!("error_description=\"{description}\""),
            );
    }
    assert_eq!(world.get(&world.unbound, None).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_certificate_header_is_refused_from_anyone_but_the_proxy() {
    let world = gateway_trusting("\"10.0.0.0/8\"").await;
    let forged = xfcc(CERTIFICATE);
    let refused = world.get(&world.bound, Some(&forged)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(world.get(&world.unbound, None).await.status, StatusCode::OK);
}
