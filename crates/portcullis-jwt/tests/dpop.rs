//! DPoP proof checks (RFC 9449 §4.3), one test per rule, against proofs minted by an
//! independent implementation (josekit, through portcullis-testkit).

#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_jwt::dpop::{DpopErrorKind, DpopRequest, DpopValidation};
use portcullis_jwt::{Algorithm, Key, KeySet, Validation};
use portcullis_testkit::{SigningAlgorithm, SigningKey, TokenBuilder, access_token_hash, jwks};
use serde_json::json;

const NOW: u64 = 1_700_000_000;
const URI: &str = "https://api.test/orders";
const TOKEN: &str = "the.access.token";

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn key(alg: SigningAlgorithm) -> &'static SigningKey {
    static KEYS: OnceLock<Vec<SigningKey>> = OnceLock::new();
    let keys = KEYS.get_or_init(|| {
        SigningAlgorithm::ALL
            .iter()
            .map(|a| SigningKey::generate(*a))
            .collect()
    });
    &keys[SigningAlgorithm::ALL
        .iter()
        .position(|a| *a == alg)
        .unwrap()]
}

fn es256() -> &'static SigningKey {
    key(SigningAlgorithm::ES256)
}

fn validation() -> DpopValidation {
    DpopValidation::builder().build().unwrap()
}

fn request() -> DpopRequest<'static> {
    DpopRequest::new("GET", URI).access_token(TOKEN)
}

/// A valid proof for `GET URI` with `TOKEN`, made at `NOW`.
fn proof(key: &SigningKey) -> TokenBuilder<'_> {
    key.dpop_proof("GET", URI, NOW)
        .claim("ath", access_token_hash(TOKEN))
}

fn refusal(proof: &str, request: &DpopRequest<'_>) -> (DpopErrorKind, Option<&'static str>) {
    let error = validation().verify(proof, request, at(NOW)).unwrap_err();
    (error.kind(), error.detail())
}

/// Asserts that a proof without the header parameter `name` is refused for missing it.
fn assert_header_required(key: &SigningKey, name: &'static str) {
    let without = proof(key).without_header(name).sign();
    assert_eq!(
        refusal(&without, &request()),
        (DpopErrorKind::MissingClaim, Some(name)),
        "{name}"
    );
}

fn jkt(key: &SigningKey) -> String {
    let key = Key::from_jwk(&key.public_jwk()).unwrap();
    URL_SAFE_NO_PAD.encode(key.thumbprint())
}

#[test]
fn a_valid_proof_passes_with_every_asymmetric_algorithm() {
    for alg in SigningAlgorithm::ALL {
        let key = key(alg);
        let result = validation().verify(&proof(key).sign(), &request(), at(NOW));
        if matches!(
            alg,
            SigningAlgorithm::HS256 | SigningAlgorithm::HS384 | SigningAlgorithm::HS512
        ) {
            assert_eq!(
                result.unwrap_err().kind(),
                DpopErrorKind::AlgorithmNotAllowed,
                "{alg:?}"
            );
            continue;
        }
        let verified = result.unwrap_or_else(|e| panic!("{alg:?}: {e}"));
        assert_eq!(verified.jkt(), jkt(key), "{alg:?}");
        assert_eq!(verified.issued_at(), at(NOW));
        assert!(!verified.jti().is_empty());
        assert_eq!(verified.nonce(), None);
    }
}

#[test]
fn too_large_or_not_a_jws_is_refused() {
    let small = DpopValidation::builder().max_size(256).build().unwrap();
    let long = proof(key(SigningAlgorithm::RS256)).sign();
    assert_eq!(
        small.verify(&long, &request(), at(NOW)).unwrap_err().kind(),
        DpopErrorKind::TooLarge
    );
    let good = proof(es256()).sign();
    let (header, rest) = good.split_once('.').unwrap();
    for bad in [
        String::new(),
        "a.b".into(),
        format!("{good}.extra"),
        format!("{header}..{}", rest.split_once('.').unwrap().1),
        format!("{header}.{rest}="),
        good.replacen('.', ".!", 1),
    ] {
        assert_eq!(
            refusal(&bad, &request()).0,
            DpopErrorKind::Malformed,
            "{bad}"
        );
    }
}

#[test]
fn duplicate_members_and_crit_are_refused() {
    let key = es256();
    let jwk = serde_json::Value::Object(key.bare_public_jwk()).to_string();
    let header = format!(r#"{{"typ":"dpop+jwt","alg":"ES256","jwk":{jwk},"typ":"dpop+jwt"}}"#);
    let claims = proof(key).claims_json();
    let duplicate = portcullis_testkit::encode_compact(key, &header, &claims);
    assert_eq!(refusal(&duplicate, &request()).0, DpopErrorKind::Malformed);

    let nested = jwk.replacen("\"kty\"", "\"kty\":\"EC\",\"kty\"", 1);
    let header = format!(r#"{{"typ":"dpop+jwt","alg":"ES256","jwk":{nested}}}"#);
    let duplicate = portcullis_testkit::encode_compact(key, &header, &claims);
    assert_eq!(refusal(&duplicate, &request()).0, DpopErrorKind::Malformed);

    let crit = proof(key).header("crit", json!(["exp"])).sign();
    assert_eq!(refusal(&crit, &request()).0, DpopErrorKind::Malformed);
}

#[test]
fn typ_must_be_dpop_jwt() {
    let key = es256();
    for typ in ["dpop+jwt", "DPoP+JWT", "application/dpop+jwt"] {
        let candidate = proof(key).header("typ", typ).sign();
        assert!(
            validation().verify(&candidate, &request(), at(NOW)).is_ok(),
            "{typ}"
        );
    }
    for typ in [json!("JWT"), json!("at+jwt"), json!("dpop"), json!(1)] {
        let candidate = proof(key).header("typ", typ.clone()).sign();
        assert_eq!(
            refusal(&candidate, &request()),
            (DpopErrorKind::InvalidType, Some("typ")),
            "{typ}"
        );
    }
    assert_header_required(key, "typ");
}

#[test]
fn alg_comes_from_the_allow_list_and_suits_the_key() {
    let key = es256();
    for alg in [json!("none"), json!("HS256"), json!("XS256"), json!(null)] {
        let candidate = proof(key).header("alg", alg.clone()).sign();
        assert_eq!(
            refusal(&candidate, &request()).0,
            DpopErrorKind::AlgorithmNotAllowed,
            "{alg}"
        );
    }
    // An RSA algorithm named over an EC key.
    let proof_rs = proof(key).header("alg", "RS256").sign();
    assert_eq!(
        refusal(&proof_rs, &request()).0,
        DpopErrorKind::AlgorithmNotAllowed
    );
    // Not in the configured list.
    let only_eddsa = DpopValidation::builder()
        .algorithms([Algorithm::EdDSA])
        .build()
        .unwrap();
    let error = only_eddsa
        .verify(&proof(key).sign(), &request(), at(NOW))
        .unwrap_err();
    assert_eq!(error.kind(), DpopErrorKind::AlgorithmNotAllowed);
    assert_header_required(key, "alg");
}

#[test]
fn jwk_must_be_a_public_key_that_verifies() {
    let key = es256();
    assert_header_required(key, "jwk");
    let private = proof(key).header("jwk", key.private_jwk()).sign();
    assert_eq!(
        refusal(&private, &request()),
        (DpopErrorKind::InvalidKey, Some("jwk"))
    );
    let secret = proof(key)
        .header(
            "jwk",
            json!({"kty":"oct","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0"}),
        )
        .sign();
    assert_eq!(refusal(&secret, &request()).0, DpopErrorKind::InvalidKey);
    for shape in [json!("a key"), json!(["EC"]), json!({"kty":"EC"})] {
        let candidate = proof(key).header("jwk", shape.clone()).sign();
        assert_eq!(
            refusal(&candidate, &request()).0,
            DpopErrorKind::InvalidKey,
            "{shape}"
        );
    }
    // Signed by one key, naming another of the same kind.
    let other = SigningKey::generate(SigningAlgorithm::ES256);
    let swapped = proof(key)
        .header("jwk", serde_json::Value::Object(other.bare_public_jwk()))
        .sign();
    assert_eq!(
        refusal(&swapped, &request()).0,
        DpopErrorKind::InvalidSignature
    );
}

#[test]
fn every_required_claim_must_be_there_with_its_type() {
    let key = es256();
    for claim in ["jti", "htm", "htu", "iat"] {
        let without = proof(key).without_claim(claim).sign();
        assert_eq!(
            refusal(&without, &request()),
            (DpopErrorKind::MissingClaim, Some(claim))
        );
        let mistyped = proof(key).claim(claim, json!({"not": "right"})).sign();
        assert_eq!(
            refusal(&mistyped, &request()),
            (DpopErrorKind::InvalidClaim, Some(claim))
        );
    }
    for jti in [String::new(), "j".repeat(257)] {
        let bad_jti = proof(key).claim("jti", jti).sign();
        assert_eq!(
            refusal(&bad_jti, &request()),
            (DpopErrorKind::InvalidClaim, Some("jti"))
        );
    }
    let proof_iat = proof(key).claim("iat", -1).sign();
    assert_eq!(
        refusal(&proof_iat, &request()).0,
        DpopErrorKind::InvalidClaim
    );
}

#[test]
fn htm_is_the_method_exactly() {
    let key = es256();
    let proof_get = proof(key).sign();
    let post = DpopRequest::new("POST", URI).access_token(TOKEN);
    assert_eq!(
        refusal(&proof_get, &post),
        (DpopErrorKind::MethodMismatch, Some("htm"))
    );
    let lower = proof(key).claim("htm", "get").sign();
    assert_eq!(refusal(&lower, &request()).0, DpopErrorKind::MethodMismatch);
}

#[test]
fn htu_is_the_uri_after_normalization_without_query() {
    let key = es256();
    for claimed in [
        "https://api.test/orders",
        "HTTPS://API.test:443/orders",
        "https://api.test/%6Frders",
        "https://api.test/x/../orders",
        "https://api.test/orders?page=1",
        "https://api.test/orders#top",
    ] {
        let candidate = proof(key).claim("htu", claimed).sign();
        let request = DpopRequest::new("GET", "https://api.test/orders?page=2").access_token(TOKEN);
        assert!(
            validation().verify(&candidate, &request, at(NOW)).is_ok(),
            "{claimed}"
        );
    }
    for claimed in [
        "http://api.test/orders",
        "https://api.test:8443/orders",
        "https://other.test/orders",
        "https://api.test/orders/",
        "https://api.test/Orders",
        "/orders",
        "https://user@api.test/orders",
    ] {
        let candidate = proof(key).claim("htu", claimed).sign();
        assert_eq!(
            refusal(&candidate, &request()),
            (DpopErrorKind::UriMismatch, Some("htu")),
            "{claimed}"
        );
    }
}

#[test]
fn iat_must_be_recent_within_the_window() {
    let key = es256();
    let validation = DpopValidation::builder()
        .max_age(Duration::from_secs(60))
        .leeway(Duration::from_secs(5))
        .build()
        .unwrap();
    let made_at = |iat: u64| proof(key).claim("iat", iat).sign();
    let verify = |iat: u64| validation.verify(&made_at(iat), &request(), at(NOW));
    assert!(verify(NOW + 5).is_ok());
    assert_eq!(
        verify(NOW + 6).unwrap_err().kind(),
        DpopErrorKind::IssuedInFuture
    );
    assert!(verify(NOW - 65).is_ok());
    assert_eq!(verify(NOW - 66).unwrap_err().kind(), DpopErrorKind::TooOld);
    // A replay store must remember the proof until it would be too old.
    let verified = verify(NOW - 10).unwrap();
    assert_eq!(verified.replay_window_end(), at(NOW - 10 + 65));
    assert!(
        validation
            .verify(&made_at(NOW - 10), &request(), at(NOW + 55))
            .is_ok()
    );
    assert!(
        validation
            .verify(&made_at(NOW - 10), &request(), at(NOW + 56))
            .is_err()
    );
}

#[test]
fn ath_is_the_hash_of_the_presented_token() {
    let key = es256();
    let without = proof(key).without_claim("ath").sign();
    assert_eq!(
        refusal(&without, &request()),
        (DpopErrorKind::MissingClaim, Some("ath"))
    );
    let other = proof(key)
        .claim("ath", access_token_hash("another.token"))
        .sign();
    assert_eq!(
        refusal(&other, &request()),
        (DpopErrorKind::AccessTokenHashMismatch, Some("ath"))
    );
    // No access token presented (a proof at the token endpoint, say): no ath needed.
    let bare = DpopRequest::new("GET", URI);
    assert!(validation().verify(&without, &bare, at(NOW)).is_ok());
}

#[test]
fn the_token_must_be_bound_to_the_proof_key() {
    let key = es256();
    let issuer = SigningKey::generate(SigningAlgorithm::ES256).with_kid("issuer");
    let keys = KeySet::from_jwks(jwks([&issuer]).to_string().as_bytes()).unwrap();
    let rules = Validation::builder()
        .issuer("https://issuer.test")
        .audience("https://api.test")
        .build()
        .unwrap();
    let claims_with = |cnf: serde_json::Value| {
        let token = issuer
            .token()
            .standard_claims("https://issuer.test", "https://api.test", NOW)
            .claim("cnf", cnf)
            .sign();
        rules.verify(&token, &keys, at(NOW)).unwrap()
    };
    let verified = validation()
        .verify(&proof(key).sign(), &request(), at(NOW))
        .unwrap();
    assert!(
        verified
            .check_binding(&claims_with(json!({"jkt": jkt(key)})))
            .is_ok()
    );

    let other = SigningKey::generate(SigningAlgorithm::ES256);
    for cnf in [
        json!({"jkt": jkt(&other)}),
        json!({}),
        json!({"jkt": 7}),
        json!({"jkt": "short"}),
    ] {
        let error = verified
            .check_binding(&claims_with(cnf.clone()))
            .unwrap_err();
        assert_eq!(error.kind(), DpopErrorKind::KeyBindingMismatch, "{cnf}");
        assert_eq!(error.code(), "invalid_token");
    }
}

#[test]
fn proof_errors_are_invalid_dpop_proof() {
    let key = es256();
    let proof_post = proof(key).claim("htm", "POST").sign();
    let error = validation()
        .verify(&proof_post, &request(), at(NOW))
        .unwrap_err();
    assert_eq!(error.code(), "invalid_dpop_proof");
    assert_eq!(error.description(), "DPoP proof is for another method");
}

#[test]
fn bad_configurations_are_refused() {
    let refused = [
        (
            DpopValidation::builder().algorithms([Algorithm::HS256, Algorithm::ES256]),
            "algorithms",
        ),
        (DpopValidation::builder().algorithms([]), "algorithms"),
        (DpopValidation::builder().max_age(Duration::ZERO), "max_age"),
        (
            DpopValidation::builder().max_age(Duration::from_secs(601)),
            "max_age",
        ),
        (
            DpopValidation::builder().leeway(Duration::from_secs(301)),
            "leeway",
        ),
        (DpopValidation::builder().max_size(255), "max_size"),
    ];
    for (builder, setting) in refused {
        assert_eq!(builder.build().unwrap_err().setting(), Some(setting));
    }
}
