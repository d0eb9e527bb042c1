//! Verification rules, one test per rule, against tokens minted by an independent
//! implementation (josekit, through portcullis-testkit).

#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portcullis_jwt::dangerous::DangerousValidation as _;
use portcullis_jwt::{
    Algorithm, AlgorithmSet, ErrorKind, Key, KeySet, ScopeClaim, SkipReason, Validation,
    ValidationBuilder, VerifiedBy,
};
use portcullis_testkit::fixture::{AUDIENCE, ISSUER, NOW};
use portcullis_testkit::{SigningAlgorithm, SigningKey, encode_compact, jwks};
use serde_json::json;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn to_alg(alg: SigningAlgorithm) -> Algorithm {
    Algorithm::from_name(alg.name()).unwrap()
}

fn keyset(keys: &[&SigningKey]) -> KeySet {
    KeySet::from_jwks(jwks(keys.iter().copied()).to_string().as_bytes()).unwrap()
}

/// The fixture's issuer and audience; a test adds the rule it is about.
fn rules() -> ValidationBuilder {
    Validation::builder().issuer(ISSUER).audience(AUDIENCE)
}

fn validation() -> Validation {
    rules().build().unwrap()
}

fn rs256() -> &'static SigningKey {
    SigningKey::shared(SigningAlgorithm::RS256)
}

/// The shared RS256 key and a key set that holds it alone.
fn rs256_keyset() -> (&'static SigningKey, KeySet) {
    let k = rs256();
    (k, keyset(&[k]))
}

fn good(key: &SigningKey) -> portcullis_testkit::TokenBuilder<'_> {
    key.token().standard_claims(ISSUER, AUDIENCE, NOW)
}

fn kind_of(validation: &Validation, token: &str, keys: &KeySet, now: SystemTime) -> ErrorKind {
    validation
        .verify(token, keys, now)
        .map(|_| panic!("accepted: {token}"))
        .unwrap_err()
        .kind()
}

#[test]
fn every_asymmetric_algorithm_verifies() {
    for alg in SigningAlgorithm::ALL
        .into_iter()
        .filter(|a| !a.is_symmetric())
    {
        let k = SigningKey::shared(alg);
        let keys = keyset(&[k]);
        assert_eq!(keys.len(), 1, "{alg}: {:?}", keys.skipped());
        let token = good(k).claim("scope", "read write").sign();
        let claims = validation()
            .verify(&token, &keys, at(NOW))
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(claims.issuer(), Some(ISSUER));
        assert_eq!(claims.subject(), Some("test-subject"));
        assert_eq!(claims.client_id(), Some("test-client"));
        assert_eq!(claims.audiences().collect::<Vec<_>>(), [AUDIENCE]);
        assert_eq!(
            claims.expires_at().unwrap().as_seconds(),
            (NOW + 300) as i64
        );
        // The default leeway (30 s) after `exp`: the instant the rules refuse it.
        assert_eq!(
            claims.valid_until(),
            Some(at(NOW + 300 + 30)),
            "{alg}: exp plus the leeway"
        );
        assert!(claims.scopes().contains("write"));
        match claims.verified_by() {
            VerifiedBy::Jwt {
                algorithm, key_id, ..
            } => {
                assert_eq!(*algorithm, to_alg(alg));
                assert_eq!(key_id.as_deref(), Some(k.kid()));
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn hmac_verifies_only_with_an_application_secret() {
    for alg in [
        SigningAlgorithm::HS256,
        SigningAlgorithm::HS384,
        SigningAlgorithm::HS512,
    ] {
        let k = SigningKey::shared(alg);
        // From a JWK Set: skipped, never loaded.
        let from_document = keyset(&[k]);
        assert!(from_document.is_empty());
        assert_eq!(from_document.skipped()[0].reason, SkipReason::SymmetricKey);

        let secret = k.secret().unwrap();
        let keys =
            KeySet::from_keys([Key::hmac_secret(Some(k.kid()), to_alg(alg), &secret).unwrap()]);
        let token = good(k).sign();
        // HMAC is not in the default allow-list.
        assert_eq!(
            kind_of(&validation(), &token, &keys, at(NOW)),
            ErrorKind::AlgorithmNotAllowed
        );
        let hmac = rules().algorithms(AlgorithmSet::HMAC).build().unwrap();
        hmac.verify(&token, &keys, at(NOW)).unwrap();
    }
}

#[test]
fn short_hmac_secrets_are_refused_at_configuration() {
    assert!(Key::hmac_secret(None, Algorithm::HS256, &[7; 31]).is_err());
    assert!(Key::hmac_secret(None, Algorithm::HS256, &[7; 32]).is_ok());
    assert!(Key::hmac_secret(None, Algorithm::HS384, &[7; 47]).is_err());
    assert!(Key::hmac_secret(None, Algorithm::HS512, &[7; 63]).is_err());
    assert!(Key::hmac_secret(None, Algorithm::RS256, &[7; 64]).is_err());
}

#[test]
fn secure_defaults_demand_issuer_and_audience() {
    assert!(Validation::builder().audience(AUDIENCE).build().is_err());
    assert!(Validation::builder().issuer(ISSUER).build().is_err());
    assert!(
        Validation::builder()
            .issuer("")
            .audience(AUDIENCE)
            .build()
            .is_err()
    );
    assert!(rules().algorithms(AlgorithmSet::EMPTY).build().is_err());
    assert!(rules().leeway(Duration::from_secs(301)).build().is_err());
    assert!(
        Validation::builder()
            .dangerous_accept_any_issuer()
            .dangerous_accept_any_audience()
            .build()
            .is_ok()
    );
}

#[test]
fn algorithm_allow_list_comes_from_configuration() {
    let k = SigningKey::shared(SigningAlgorithm::ES256);
    let keys = keyset(&[k]);
    let only_rs = rules().algorithms([Algorithm::RS256]).build().unwrap();
    assert_eq!(
        kind_of(&only_rs, &good(k).sign(), &keys, at(NOW)),
        ErrorKind::AlgorithmNotAllowed
    );
}

#[test]
fn a_key_with_alg_verifies_only_that_alg() {
    // The JWK says RS256; a PS256 token signed by the same private key is refused.
    let (k, keys) = rs256_keyset();
    let ps = SigningKey::from_private_jwk(SigningAlgorithm::PS256, &k.private_jwk())
        .unwrap()
        .with_kid(k.kid());
    assert_eq!(
        kind_of(&validation(), &good(&ps).sign(), &keys, at(NOW)),
        ErrorKind::NoMatchingKey
    );

    // Without `alg` in the JWK, any RSA algorithm of the allow-list verifies.
    let mut jwk = k.public_jwk();
    jwk.as_object_mut().unwrap().remove("alg");
    let keys = KeySet::from_jwks(json!({ "keys": [jwk] }).to_string().as_bytes()).unwrap();
    let rsa = SigningAlgorithm::ALL
        .into_iter()
        .filter(|a| matches!(&a.name()[..2], "RS" | "PS"));
    for alg in rsa {
        let signer = SigningKey::from_private_jwk(alg, &k.private_jwk())
            .unwrap()
            .with_kid(k.kid());
        validation()
            .verify(&good(&signer).sign(), &keys, at(NOW))
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
    }
}

#[test]
fn key_selection_by_kid() {
    let a = rs256();
    let b = SigningKey::shared(SigningAlgorithm::ES256);
    let keys = keyset(&[a, b]);
    validation()
        .verify(&good(a).sign(), &keys, at(NOW))
        .unwrap();
    validation()
        .verify(&good(b).sign(), &keys, at(NOW))
        .unwrap();
    // A kid not in the set.
    let token = good(a).header("kid", "unknown").sign();
    assert_eq!(
        kind_of(&validation(), &token, &keys, at(NOW)),
        ErrorKind::UnknownKeyId
    );
    // The kid of a key of another type.
    let token = good(a).header("kid", b.kid()).sign();
    assert_eq!(
        kind_of(&validation(), &token, &keys, at(NOW)),
        ErrorKind::NoMatchingKey
    );
    // The right kid, the wrong key: signature fails.
    let impostor = SigningKey::generate(SigningAlgorithm::ES256).with_kid(b.kid());
    assert_eq!(
        kind_of(&validation(), &good(&impostor).sign(), &keys, at(NOW)),
        ErrorKind::InvalidSignature
    );
}

#[test]
fn a_token_without_kid_needs_exactly_one_candidate() {
    let a = rs256();
    let b = SigningKey::shared(SigningAlgorithm::ES256);
    let token = good(a).without_header("kid").sign();
    // One RSA key: accepted.
    validation()
        .verify(&token, &keyset(&[a, b]), at(NOW))
        .unwrap();
    // Two RSA keys: ambiguous.
    let other = SigningKey::generate(SigningAlgorithm::RS256);
    assert_eq!(
        kind_of(&validation(), &token, &keyset(&[a, &other]), at(NOW)),
        ErrorKind::NoMatchingKey
    );
    // Configured to require a kid.
    let strict = rules().require_kid(true).build().unwrap();
    assert_eq!(
        kind_of(&strict, &token, &keyset(&[a]), at(NOW)),
        ErrorKind::NoMatchingKey
    );
    // No key at all.
    assert_eq!(
        kind_of(&validation(), &token, &KeySet::empty(), at(NOW)),
        ErrorKind::NoMatchingKey
    );
}

#[test]
fn expiry_with_leeway_exactly() {
    let (k, keys) = rs256_keyset();
    let token = good(k).sign(); // exp = NOW + 300
    let v = validation(); // leeway 30 s
    v.verify(&token, &keys, at(NOW + 329)).unwrap();
    let late = UNIX_EPOCH + Duration::from_millis((NOW + 329) * 1000 + 999);
    v.verify(&token, &keys, late).unwrap();
    assert_eq!(
        kind_of(&v, &token, &keys, at(NOW + 330)),
        ErrorKind::Expired
    );
    let no_leeway = rules().leeway(Duration::ZERO).build().unwrap();
    no_leeway.verify(&token, &keys, at(NOW + 299)).unwrap();
    assert_eq!(
        kind_of(&no_leeway, &token, &keys, at(NOW + 300)),
        ErrorKind::Expired
    );
    // Fractional exp.
    let token = good(k).claim("exp", (NOW as f64) + 0.5).sign();
    no_leeway
        .verify(
            &token,
            &keys,
            UNIX_EPOCH + Duration::from_millis(NOW * 1000 + 499),
        )
        .unwrap();
    assert_eq!(
        kind_of(
            &no_leeway,
            &token,
            &keys,
            UNIX_EPOCH + Duration::from_millis(NOW * 1000 + 500)
        ),
        ErrorKind::Expired
    );
}

#[test]
fn exp_is_required() {
    let k = rs256();
    let token = good(k).without_claim("exp").sign();
    let err = validation()
        .verify(&token, &keyset(&[k]), at(NOW))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MissingClaim);
    assert_eq!(err.detail(), Some("exp"));
}

#[test]
fn not_before_and_issued_at_with_leeway() {
    let (k, keys) = rs256_keyset();
    let v = validation();
    let token = good(k).claim("nbf", NOW + 100).sign();
    assert_eq!(
        kind_of(&v, &token, &keys, at(NOW + 69)),
        ErrorKind::NotYetValid
    );
    v.verify(&token, &keys, at(NOW + 70)).unwrap();

    let token = good(k).claim("iat", NOW + 100).sign();
    assert_eq!(
        kind_of(&v, &token, &keys, at(NOW + 69)),
        ErrorKind::IssuedInFuture
    );
    v.verify(&token, &keys, at(NOW + 70)).unwrap();
}

#[test]
fn maximum_token_age() {
    let (k, keys) = rs256_keyset();
    let v = rules()
        .leeway(Duration::ZERO)
        .max_token_age(Duration::from_secs(60))
        .build()
        .unwrap();
    let token = good(k).sign();
    v.verify(&token, &keys, at(NOW + 60)).unwrap();
    assert_eq!(kind_of(&v, &token, &keys, at(NOW + 61)), ErrorKind::TooOld);
    let token = good(k).without_claim("iat").sign();
    assert_eq!(kind_of(&v, &token, &keys, at(NOW)), ErrorKind::MissingClaim);
}

#[test]
fn several_issuers_and_audiences() {
    let (k, keys) = rs256_keyset();
    let v = Validation::builder()
        .issuer("https://a.test")
        .issuer("https://b.test")
        .audience("api-1")
        .audience("api-2")
        .build()
        .unwrap();
    for (iss, aud) in [
        ("https://a.test", json!("api-1")),
        ("https://b.test", json!("api-2")),
        ("https://a.test", json!(["other", "api-2"])),
    ] {
        let token = good(k).claim("iss", iss).claim("aud", aud.clone()).sign();
        v.verify(&token, &keys, at(NOW))
            .unwrap_or_else(|e| panic!("{iss} {aud}: {e}"));
    }
}

#[test]
fn audience_arrays_keep_their_order() {
    let (k, keys) = rs256_keyset();
    let v = validation();
    for list in [
        vec![AUDIENCE],
        vec!["x", AUDIENCE],
        vec!["x", AUDIENCE, "y"],
    ] {
        let token = good(k).claim("aud", json!(list)).sign();
        let claims = v.verify(&token, &keys, at(NOW)).unwrap();
        assert_eq!(claims.audiences().collect::<Vec<_>>(), list);
    }
    let token = good(k).claim("aud", json!([])).sign();
    assert_eq!(
        kind_of(&v, &token, &keys, at(NOW)),
        ErrorKind::InvalidAudience
    );
}

#[test]
fn access_token_type_switch() {
    let (k, keys) = rs256_keyset();
    let strict = validation();
    let relaxed = rules().require_access_token_type(false).build().unwrap();
    for typ in ["at+jwt", "application/at+jwt", "AT+JWT"] {
        let token = good(k).header("typ", typ).sign();
        strict.verify(&token, &keys, at(NOW)).unwrap();
        relaxed.verify(&token, &keys, at(NOW)).unwrap();
    }
    for token in [
        good(k).header("typ", "JWT").sign(),
        good(k).without_header("typ").sign(),
    ] {
        assert_eq!(
            kind_of(&strict, &token, &keys, at(NOW)),
            ErrorKind::InvalidType
        );
        relaxed.verify(&token, &keys, at(NOW)).unwrap();
    }
    for typ in ["dpop+jwt", "logout+jwt", "secevent+jwt", "JOSE"] {
        let token = good(k).header("typ", typ).sign();
        assert_eq!(
            kind_of(&relaxed, &token, &keys, at(NOW)),
            ErrorKind::InvalidType
        );
    }
}

#[test]
fn scopes_from_scope_or_scp_or_a_named_claim() {
    let (k, keys) = rs256_keyset();
    let v = validation();
    let claims = v
        .verify(
            &good(k).claim("scp", json!(["a", "b"])).sign(),
            &keys,
            at(NOW),
        )
        .unwrap();
    assert_eq!(claims.scopes().iter().collect::<Vec<_>>(), ["a", "b"]);
    let claims = v
        .verify(&good(k).claim("scp", "a b").sign(), &keys, at(NOW))
        .unwrap();
    assert_eq!(claims.scopes().len(), 2);
    // scope wins over scp
    let claims = v
        .verify(
            &good(k)
                .claim("scope", "x")
                .claim("scp", json!(["a"]))
                .sign(),
            &keys,
            at(NOW),
        )
        .unwrap();
    assert_eq!(claims.scopes().iter().collect::<Vec<_>>(), ["x"]);
    // a malformed scope string grants nothing, but the token is otherwise valid
    for bad in [json!("read,write"), json!("read\twrite")] {
        let claims = v
            .verify(&good(k).claim("scope", bad.clone()).sign(), &keys, at(NOW))
            .unwrap();
        assert!(claims.scopes().is_empty(), "{bad}");
    }
    // a scope that is not a string at all refuses the token (RFC 9068 §2.2.3)
    for bad in [json!(7), json!(["a", 1]), json!(["a", "b"])] {
        let err = v
            .verify(&good(k).claim("scope", bad.clone()).sign(), &keys, at(NOW))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidClaim, "{bad}");
        assert_eq!(err.detail(), Some("scope"), "{bad}");
    }
    let named = rules()
        .scope_claim(ScopeClaim::Named("permissions".into()))
        .build()
        .unwrap();
    let claims = named
        .verify(
            &good(k)
                .claim("scope", "ignored")
                .claim("permissions", json!(["orders:read"]))
                .sign(),
            &keys,
            at(NOW),
        )
        .unwrap();
    assert_eq!(claims.scopes().iter().collect::<Vec<_>>(), ["orders:read"]);
}

#[test]
fn scope_arrays_only_when_allowed() {
    let (k, keys) = rs256_keyset();
    // Spring Authorization Server's shape.
    let token = good(k)
        .claim("scope", json!(["orders:read", "openid"]))
        .sign();
    let err = validation().verify(&token, &keys, at(NOW)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidClaim);
    assert_eq!(err.detail(), Some("scope"));
    let spring = rules().allow_scope_array(true).build().unwrap();
    let claims = spring.verify(&token, &keys, at(NOW)).unwrap();
    assert_eq!(
        claims.scopes().iter().collect::<Vec<_>>(),
        ["openid", "orders:read"]
    );
    // scp takes strings only, as an array or a string
    let err = validation()
        .verify(&good(k).claim("scp", json!([1, 2])).sign(), &keys, at(NOW))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidClaim);
    assert_eq!(err.detail(), Some("scp"));
}

/// RFC 9068 §2.2: `sub`, `client_id`, `iat` and `jti` are required of a JWT access
/// token; the relaxed profile does not ask for them.
#[test]
fn rfc_9068_profile_requires_its_claims() {
    let (k, keys) = rs256_keyset();
    let relaxed = rules().require_access_token_type(false).build().unwrap();
    for claim in ["sub", "client_id", "iat", "jti"] {
        let token = good(k).without_claim(claim).sign();
        let err = validation().verify(&token, &keys, at(NOW)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingClaim, "{claim}");
        assert_eq!(err.detail(), Some(claim));
        relaxed.verify(&token, &keys, at(NOW)).unwrap();
    }
}

#[test]
fn required_claims_and_custom_checks() {
    let (k, keys) = rs256_keyset();
    let v = rules()
        .require_claim("jti")
        .require_claim("tenant")
        .check(
            |claims| match claims.get("tenant").and_then(|t| t.as_str()) {
                Some("acme") => Ok(()),
                _ => Err("wrong tenant".into()),
            },
        )
        .build()
        .unwrap();
    let err = v.verify(&good(k).sign(), &keys, at(NOW)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MissingClaim);
    assert_eq!(err.detail(), Some("tenant"));
    let err = v
        .verify(&good(k).claim("tenant", "other").sign(), &keys, at(NOW))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Rejected);
    assert_eq!(err.detail(), Some("wrong tenant"));
    v.verify(&good(k).claim("tenant", "acme").sign(), &keys, at(NOW))
        .unwrap();
}

#[test]
fn claims_give_raw_and_typed_access() {
    #[derive(serde::Deserialize)]
    struct Mine {
        sub: String,
        roles: Vec<String>,
    }
    let k = rs256();
    let token = good(k).claim("roles", json!(["admin"])).sign();
    let claims = validation().verify(&token, &keyset(&[k]), at(NOW)).unwrap();
    assert_eq!(claims.get("roles"), Some(&json!(["admin"])));
    assert_eq!(claims.get("missing"), None);
    let mine: Mine = claims.deserialize().unwrap();
    assert_eq!(mine.sub, "test-subject");
    assert_eq!(mine.roles, ["admin"]);
    let copy = claims.clone();
    assert_eq!(copy.payload_json(), claims.payload_json());
    let debug = format!("{claims:?}");
    assert!(!debug.contains("admin"), "custom claims stay out of Debug");
}

#[test]
fn unusable_keys_are_skipped_one_by_one() {
    let good_key = rs256();
    let weak = weak_rsa_jwk();
    let mut enc = SigningKey::shared(SigningAlgorithm::RS384).public_jwk();
    enc["use"] = json!("enc");
    let mut no_verify = SigningKey::shared(SigningAlgorithm::RS512).public_jwk();
    no_verify["key_ops"] = json!(["encrypt"]);
    let mut oaep = SigningKey::shared(SigningAlgorithm::PS256).public_jwk();
    oaep["alg"] = json!("RSA-OAEP");
    let mut mismatch = SigningKey::shared(SigningAlgorithm::ES256).public_jwk();
    mismatch["alg"] = json!("ES384");
    let mut short_x = SigningKey::shared(SigningAlgorithm::ES384).public_jwk();
    short_x["x"] = json!("AAAA");
    let mut off_curve = SigningKey::shared(SigningAlgorithm::ES512).public_jwk();
    let x = off_curve["x"].as_str().unwrap().to_owned();
    off_curve["y"] = json!(x);
    let ed448 = json!({"kty":"OKP","crv":"Ed448","x":"AAAA","kid":"ed448"});
    let unknown_kty = json!({"kty":"PQC","kid":"pqc"});
    let positional = json!(["EC", "positional", "ES256"]);
    let wrong_type = json!({"kty":"RSA","n":7,"e":"AQAB"});
    let document = json!({"keys": [
        good_key.public_jwk(), weak, enc, no_verify, oaep, mismatch, short_x,
        off_curve, ed448, unknown_kty, wrong_type, "not an object", positional,
        SigningKey::shared(SigningAlgorithm::HS256).public_jwk(),
    ]});
    let keys = KeySet::from_jwks(document.to_string().as_bytes()).unwrap();
    assert_eq!(keys.len(), 1);
    let reasons: Vec<SkipReason> = keys.skipped().iter().map(|s| s.reason).collect();
    assert_eq!(
        reasons,
        [
            SkipReason::TooSmall,
            SkipReason::NotForSignatures,
            SkipReason::NotForVerification,
            SkipReason::UnsupportedAlgorithm,
            SkipReason::AlgorithmMismatch,
            SkipReason::BadEncoding,
            SkipReason::BadEncoding,
            SkipReason::UnsupportedCurve,
            SkipReason::UnsupportedKeyType,
            SkipReason::Malformed,
            SkipReason::Malformed,
            SkipReason::Malformed,
            SkipReason::SymmetricKey,
        ]
    );
    assert_eq!(keys.skipped()[0].index, 1);
    validation()
        .verify(&good(good_key).sign(), &keys, at(NOW))
        .unwrap();
    // A token naming the weak key is refused: that key never loaded.
    assert_eq!(
        kind_of(
            &validation(),
            &good(good_key).header("kid", "weak").sign(),
            &keys,
            at(NOW)
        ),
        ErrorKind::UnknownKeyId
    );
}

#[test]
fn a_document_that_is_not_a_jwk_set_is_an_error() {
    for doc in [
        "",
        "[]",
        "[[]]",
        "{}",
        r#"{"keys":{}}"#,
        "null",
        r#"{"keys":[]"#,
    ] {
        assert!(KeySet::from_jwks(doc.as_bytes()).is_err(), "{doc}");
    }
    assert!(KeySet::from_jwks(br#"{"keys":[]}"#).unwrap().is_empty());
}

/// Found by the `jwks` fuzz target: serde_json skips the members it ignores without
/// checking their UTF-8, so a document with invalid UTF-8 outside `keys` (not JSON,
/// RFC 8259 §8.1) was loaded.
#[test]
fn a_document_that_is_not_utf8_is_an_error() {
    for doc in [
        &b"{\"keys\":[],\"x\":\"\xff\"}"[..],
        b"{\"keys\":[],\"ext\":{\"n\xff\xff\xff\xf8\":[0]}}",
        b"{\"\xc3\":1,\"keys\":[]}",
    ] {
        assert!(KeySet::from_jwks(doc).is_err(), "{}", doc.escape_ascii());
    }
}

#[test]
fn the_number_of_keys_is_bounded() {
    let jwk = SigningKey::shared(SigningAlgorithm::EdDSA).public_jwk();
    let keys: Vec<_> = (0..300)
        .map(|i| {
            let mut k = jwk.clone();
            k["kid"] = json!(format!("k{i}"));
            k
        })
        .collect();
    let set = KeySet::from_jwks(json!({ "keys": keys }).to_string().as_bytes()).unwrap();
    assert_eq!(set.len(), portcullis_jwt::MAX_KEYS);
    assert_eq!(set.skipped().len(), 300 - portcullis_jwt::MAX_KEYS);
    assert!(
        set.skipped()
            .iter()
            .all(|s| s.reason == SkipReason::TooManyKeys)
    );
}

#[test]
fn duplicate_kids_keep_the_first_key() {
    let a = SigningKey::shared(SigningAlgorithm::ES256);
    let impostor = SigningKey::generate(SigningAlgorithm::ES256).with_kid(a.kid());
    let keys = keyset(&[a, &impostor]);
    assert_eq!(keys.len(), 1);
    assert_eq!(keys.skipped()[0].reason, SkipReason::DuplicateKid);
    validation()
        .verify(&good(a).sign(), &keys, at(NOW))
        .unwrap();
}

#[test]
fn thumbprints_follow_rfc_7638() {
    // RFC 7638 §3.1 example key and thumbprint.
    let jwk = json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    });
    let key = Key::from_jwk(&jwk).unwrap();
    use base64::Engine as _;
    let thumbprint = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.thumbprint());
    assert_eq!(thumbprint, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
}

#[test]
fn raw_payload_text_is_kept_exactly() {
    let k = rs256();
    let payload = format!(
        r#"{{"iss":"{ISSUER}","aud":"{AUDIENCE}","exp":{},"sub":"s","client_id":"c","iat":{NOW},"jti":"j","note":"caf\u00e9"}}"#,
        NOW + 60
    );
    let token = encode_compact(
        k,
        &format!(r#"{{"alg":"RS256","typ":"at+jwt","kid":"{}"}}"#, k.kid()),
        &payload,
    );
    let claims = validation().verify(&token, &keyset(&[k]), at(NOW)).unwrap();
    assert_eq!(claims.payload_json(), payload);
    assert_eq!(claims.get("note"), Some(&json!("café")));
}

/// A 1024-bit RSA public JWK (josekit refuses to make one, rightly).
fn weak_rsa_jwk() -> serde_json::Value {
    use base64::Engine as _;
    let rsa = openssl::rsa::Rsa::generate(1024).unwrap();
    let b64 = |b: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    json!({
        "kty": "RSA", "kid": "weak", "alg": "RS256", "use": "sig",
        "n": b64(rsa.n().to_vec()), "e": b64(rsa.e().to_vec()),
    })
}

#[test]
fn recheck_applies_time_rules_to_cached_claims() {
    let (k, keys) = rs256_keyset();
    let v = validation();
    let claims = v.verify(&good(k).sign(), &keys, at(NOW)).unwrap();
    v.recheck(&claims, at(NOW + 329)).unwrap();
    assert_eq!(
        v.recheck(&claims, at(NOW + 330)).unwrap_err().kind(),
        ErrorKind::Expired
    );
    // Another configuration's audience does not match the cached claims.
    let other = Validation::builder()
        .issuer(ISSUER)
        .audience("https://other.test")
        .build()
        .unwrap();
    assert_eq!(
        other.recheck(&claims, at(NOW)).unwrap_err().kind(),
        ErrorKind::InvalidAudience
    );
}
