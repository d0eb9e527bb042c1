//! DPoP in the gateway: `[dpop]` is the library's policy, checked as read, and a
//! running gateway accepts a DPoP-bound token with its proof exactly once, refuses it
//! without one or as a bearer token, and counts the refusals.

#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{AUDIENCE, Http, MINIMAL, World, refused};
use http::StatusCode;
use portcullis_gateway::Config;
use portcullis_jwt::Key;
use portcullis_testkit::fixture::unix_now;
use portcullis_testkit::{SigningAlgorithm, SigningKey, access_token_hash};
use serde_json::json;

/// The origin clients use to reach the gateway (through a TLS terminator, say): proofs
/// name it, whatever address the gateway listens on.
const ORIGIN: &str = "https://api.test";

#[test]
fn the_dpop_section_is_checked_at_its_key_paths() {
    assert_eq!(refused("[dpop]\norigin = \"api.test\"\n").0, "dpop.origin");
    assert_eq!(
        refused("[dpop]\norigin = \"https://api.test\"\nmode = \"sometimes\"\n").0,
        "dpop.mode"
    );
    assert_eq!(
        refused("[dpop]\norigin = \"https://api.test\"\nalgorithms = [\"HS256\"]\n").0,
        "dpop.algorithms[0]"
    );
    assert_eq!(
        refused("[dpop]\norigin = \"https://api.test\"\nmax_age = \"11m\"\n").0,
        "dpop.max_age"
    );
    assert_eq!(
        refused("[dpop]\norigin = \"https://api.test\"\nreplay_capacity = 0\n").0,
        "dpop.replay_capacity"
    );
    assert_eq!(refused("[dpop]\nmode = \"required\"\n").0, "dpop");
    let origin = "[dpop]\norigin = \"https://api.test\"\n";
    assert_eq!(
        refused(&format!("{origin}nonce_window = \"30s\"\n")).0,
        "dpop.nonces"
    );
    assert_eq!(
        refused(&format!(
            "{origin}nonces = true\nnonce_secret_env = \"PORTCULLIS_TEST_UNSET_SECRET\"\n"
        ))
        .0,
        "dpop.nonce_secret_env"
    );
    assert_eq!(
        refused(&format!(
            "{origin}nonces = true\nnonce_secret_env = \"A\"\nnonce_secret_file = \"b\"\n"
        ))
        .0,
        "dpop"
    );
    assert_eq!(
        refused(&format!("{origin}nonces = true\nnonce_window = \"2h\"\n")).0,
        "dpop.nonce_window"
    );
    assert!(
        Config::from_toml(
            &format!(
                "{MINIMAL}[dpop]\norigin = \"https://api.test\"\nmode = \"required\"\n\
                 algorithms = [\"ES256\", \"EdDSA\"]\nmax_age = \"30s\"\nleeway = \"0s\"\n\
                 nonces = true\nnonce_window = \"2m\"\n"
            ),
            "gateway.toml"
        )
        .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bound_token_passes_once_with_its_proof() {
    let World {
        gateway,
        issuer,
        upstream: _upstream,
    } = World::start(&format!(
        "[dpop]\norigin = \"{ORIGIN}\"\nmode = \"required\"\n\n\
         [operations]\nlisten = \"127.0.0.1:0\"\n\n\
         [[routes]]\nname = \"orders\"\npath_prefix = \"/orders\"\n"
    ))
    .await;
    let client = SigningKey::generate(SigningAlgorithm::ES256);
    let jkt = URL_SAFE_NO_PAD.encode(Key::from_jwk(&client.public_jwk()).unwrap().thumbprint());
    let token = issuer.mint_with(AUDIENCE, unix_now(), |token| {
        token.claim("cnf", json!({ "jkt": jkt }))
    });
    let proof = client
        .dpop_proof("GET", &format!("{ORIGIN}/orders/7"), unix_now())
        .claim("ath", access_token_hash(&token))
        .sign();
    let http = Http::http1();
    let url = gateway.url("/orders/7");
    let dpop = format!("DPoP {token}");
    let with = |proof: &str| [("authorization", dpop.clone()), ("dpop", proof.to_owned())];

    let headers = with(&proof);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let ok = http.get(&url, None, &headers).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.json()["path"], "/orders/7");

    let replayed = http.get(&url, None, &headers).await;
    replayed.assert_challenge_starts(
        StatusCode::UNAUTHORIZED,
        r#"DPoP realm="test", error="invalid_dpop_proof""#,
    );

    // Required: a bearer token is refused, with the DPoP challenge only.
    let bearer = http.get(&url, Some(&token), &[]).await;
    assert_eq!(bearer.status, StatusCode::UNAUTHORIZED);
    let challenges: Vec<_> = bearer.headers.get_all("www-authenticate").iter().collect();
    assert_eq!(challenges.len(), 1);
    assert!(challenges[0].to_str().unwrap().starts_with("DPoP "));

    let metrics = gateway.metrics(&http).await;
    assert!(
        metrics
            .lines()
            .any(|l| l.contains(r#"reason="invalid_dpop_proof""#) && l.ends_with(" 1")),
        "{metrics}"
    );
}
