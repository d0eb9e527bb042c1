//! The negative suite: one test per class of known attack on JWT verifiers. Every case
//! must be refused with the right error kind, and none may panic.

#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_jwt::{Algorithm, AlgorithmSet, ErrorKind, KeySet, Validation, ValidationBuilder};
use portcullis_testkit::fixture::{AUDIENCE, ISSUER, NOW};
use portcullis_testkit::{SigningAlgorithm, SigningKey, encode_compact, jwks};
use serde_json::json;

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

fn rsa() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate(SigningAlgorithm::RS256).with_kid("rsa"))
}

fn ec() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate(SigningAlgorithm::ES256).with_kid("ec"))
}

fn keys() -> KeySet {
    KeySet::from_jwks(jwks([rsa(), ec()]).to_string().as_bytes()).unwrap()
}

/// The fixture's issuer and audience; a test adds the rule it is about.
fn rules() -> ValidationBuilder {
    Validation::builder().issuer(ISSUER).audience(AUDIENCE)
}

/// Even with every algorithm allowed, attacks must fail by construction.
fn permissive() -> Validation {
    rules()
        .algorithms(AlgorithmSet::ASYMMETRIC.union(AlgorithmSet::HMAC))
        .build()
        .unwrap()
}

fn strict() -> Validation {
    rules().build().unwrap()
}

fn claims() -> serde_json::Value {
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "mallory", "exp": NOW + 300, "iat": NOW})
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn refused(token: &str) -> ErrorKind {
    let mut kinds = Vec::new();
    for v in [strict(), permissive()] {
        match v.verify(token, &keys(), now()) {
            Ok(claims) => panic!("accepted {token}: {claims:?}"),
            Err(e) => kinds.push(e.kind()),
        }
    }
    kinds[1]
}

fn hmac(secret: &[u8], signing_input: &str) -> Vec<u8> {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    aws_lc_rs::hmac::sign(&key, signing_input.as_bytes())
        .as_ref()
        .to_vec()
}

#[test]
fn the_control_token_is_accepted() {
    let token = rsa().token().standard_claims(ISSUER, AUDIENCE, NOW).sign();
    strict().verify(&token, &keys(), now()).unwrap();
}

#[test]
fn alg_none_in_every_spelling() {
    for alg in ["none", "None", "NONE", "nOnE", "none ", ""] {
        let header = json!({"alg": alg, "typ": "at+jwt", "kid": "rsa"}).to_string();
        let input = format!("{}.{}", b64(&header), b64(claims().to_string()));
        // Unsigned, as RFC 7519 §6.1 writes it: an empty third segment.
        assert_eq!(refused(&format!("{input}.")), ErrorKind::Malformed, "{alg}");
        // With some signature bytes anyway.
        assert_eq!(
            refused(&format!("{input}.{}", b64("sig"))),
            ErrorKind::UnsupportedAlgorithm,
            "{alg}"
        );
        // Two segments only.
        assert_eq!(refused(&input), ErrorKind::Malformed, "{alg}");
    }
}

#[test]
fn rs256_to_hs256_confusion_with_the_public_key_as_secret() {
    let jwk = rsa().public_jwk();
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    let e = URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap();
    let public = openssl::rsa::Rsa::from_public_components(
        openssl::bn::BigNum::from_slice(&n).unwrap(),
        openssl::bn::BigNum::from_slice(&e).unwrap(),
    )
    .unwrap();
    let secrets: Vec<Vec<u8>> = vec![
        public.public_key_to_pem().unwrap(),
        public.public_key_to_pem_pkcs1().unwrap(),
        public.public_key_to_der().unwrap(),
        public.public_key_to_der_pkcs1().unwrap(),
        jwk.to_string().into_bytes(),
        n.clone(),
    ];
    for secret in secrets {
        for kid in [Some("rsa"), None] {
            let mut header = json!({"alg": "HS256", "typ": "at+jwt"});
            if let Some(kid) = kid {
                header["kid"] = json!(kid);
            }
            let input = format!("{}.{}", b64(header.to_string()), b64(claims().to_string()));
            let token = format!("{input}.{}", b64(hmac(&secret, &input)));
            assert_eq!(
                strict().verify(&token, &keys(), now()).unwrap_err().kind(),
                ErrorKind::AlgorithmNotAllowed
            );
            assert_eq!(refused(&token), ErrorKind::NoMatchingKey);
        }
    }
}

fn es256_token() -> (String, Vec<u8>) {
    let token = ec().token().standard_claims(ISSUER, AUDIENCE, NOW).sign();
    let (input, sig) = token.rsplit_once('.').unwrap();
    (input.to_owned(), URL_SAFE_NO_PAD.decode(sig).unwrap())
}

#[test]
fn ecdsa_degenerate_signatures() {
    let (input, sig) = es256_token();
    strict()
        .verify(&format!("{input}.{}", b64(&sig)), &keys(), now())
        .unwrap();
    // P-256 group order n.
    let order = hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
    let zero = [0u8; 32];
    let ones = [0xffu8; 32];
    let (r, s) = sig.split_at(32);
    let cases: Vec<Vec<u8>> = vec![
        [zero, zero].concat(),
        [&zero[..], s].concat(),
        [r, &zero[..]].concat(),
        [&order[..], &order[..]].concat(),
        [&order[..], s].concat(),
        [r, &order[..]].concat(),
        [ones, ones].concat(),
        // r and s replaced by r + n and s + n would not fit 32 bytes; a 33-byte form
        [&[0u8][..], r, s].concat(),
        sig[..63].to_vec(),
        [&sig[..], &[0u8][..]].concat(),
        Vec::new(),
    ];
    for bad in cases {
        let token = format!("{input}.{}", b64(&bad));
        let kind = refused(&token);
        assert!(
            matches!(kind, ErrorKind::InvalidSignature | ErrorKind::Malformed),
            "{kind:?}"
        );
    }
}

#[test]
fn ecdsa_der_encoded_signature_is_refused() {
    let (input, sig) = es256_token();
    let der = der_signature(&sig[..32], &sig[32..]);
    assert_eq!(
        refused(&format!("{input}.{}", b64(&der))),
        ErrorKind::InvalidSignature
    );
}

#[test]
fn embedded_keys_in_the_header_are_never_used() {
    let attacker = SigningKey::generate(SigningAlgorithm::ES256);
    let embedded = attacker.public_jwk();
    for header in [
        json!({"alg": "ES256", "typ": "at+jwt", "jwk": embedded}),
        json!({"alg": "ES256", "typ": "at+jwt", "kid": "ec", "jwk": embedded}),
        json!({"alg": "ES256", "typ": "at+jwt", "kid": "ec", "jku": "https://attacker.test/jwks"}),
        json!({"alg": "ES256", "typ": "at+jwt", "kid": "ec", "x5u": "https://attacker.test/cert"}),
        json!({"alg": "ES256", "typ": "at+jwt", "kid": "ec", "x5c": ["MIIB"]}),
        json!({"alg": "ES256", "typ": "at+jwt", "kid": attacker.kid(), "jwk": embedded}),
    ] {
        let token = encode_compact(&attacker, &header.to_string(), &claims().to_string());
        let kind = refused(&token);
        assert!(
            matches!(
                kind,
                ErrorKind::InvalidSignature | ErrorKind::UnknownKeyId | ErrorKind::NoMatchingKey
            ),
            "{header}: {kind:?}"
        );
    }
}

#[test]
fn kid_injection_finds_nothing() {
    let long = "k".repeat(4000);
    for kid in [
        "../../../../dev/null",
        "' OR '1'='1",
        "rsa\u{0}",
        "rsa ",
        "RSA",
        "/etc/passwd",
        "|cat /etc/passwd",
        "${jndi:ldap://x}",
        long.as_str(),
        "",
    ] {
        let token = rsa()
            .token()
            .standard_claims(ISSUER, AUDIENCE, NOW)
            .header("kid", kid)
            .sign();
        assert_eq!(refused(&token), ErrorKind::UnknownKeyId, "{kid:?}");
    }
    for kid in [json!(null), json!(1), json!(["rsa"]), json!({"kid": "rsa"})] {
        let token = rsa()
            .token()
            .standard_claims(ISSUER, AUDIENCE, NOW)
            .header("kid", kid.clone())
            .sign();
        assert_eq!(refused(&token), ErrorKind::Malformed, "{kid}");
    }
}

#[test]
fn duplicate_members_in_header_or_payload() {
    let header = r#"{"alg":"RS256","typ":"at+jwt","kid":"rsa"}"#;
    let good_claims = claims().to_string();
    let body = &good_claims[1..good_claims.len() - 1];
    for (h, p) in [
        (
            r#"{"alg":"RS256","alg":"RS256","typ":"at+jwt","kid":"rsa"}"#.to_owned(),
            good_claims.clone(),
        ),
        (
            r#"{"alg":"RS256","typ":"at+jwt","kid":"rsa","kid":"ec"}"#.to_owned(),
            good_claims.clone(),
        ),
        (header.to_owned(), format!(r#"{{{body},"aud":"other"}}"#)),
        (header.to_owned(), format!(r#"{{{body},"iss":"{ISSUER}"}}"#)),
        (header.to_owned(), format!(r#"{{{body},"\u0065xp":1}}"#)),
        (
            header.to_owned(),
            format!(r#"{{{body},"x":{{"a":1,"a":2}}}}"#),
        ),
    ] {
        let token = encode_compact(rsa(), &h, &p);
        assert_eq!(refused(&token), ErrorKind::Malformed, "{h} {p}");
    }
}

#[test]
fn crit_and_b64_are_refused() {
    for extra in [
        json!({"crit": ["exp"], "exp": 1}),
        json!({"crit": []}),
        json!({"crit": ["b64"], "b64": false}),
        json!({"b64": true}),
    ] {
        let mut header = json!({"alg": "RS256", "typ": "at+jwt", "kid": "rsa"});
        for (k, v) in extra.as_object().unwrap() {
            header[k] = v.clone();
        }
        let token = encode_compact(rsa(), &header.to_string(), &claims().to_string());
        assert_eq!(refused(&token), ErrorKind::UnsupportedHeader, "{header}");
    }
}

#[test]
fn wrongly_typed_time_claims() {
    for claim in ["exp", "nbf", "iat"] {
        for value in [
            json!("9999999999"),
            json!(null),
            json!(true),
            json!([NOW + 300]),
            json!({"value": NOW + 300}),
            json!(1e300),
        ] {
            let token = rsa()
                .token()
                .standard_claims(ISSUER, AUDIENCE, NOW)
                .claim(claim, value.clone())
                .sign();
            let err = permissive().verify(&token, &keys(), now()).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidClaim, "{claim}={value}");
            assert_eq!(err.detail(), Some(claim));
        }
    }
}

#[test]
fn id_tokens_are_not_access_tokens() {
    let relaxed = rules().require_access_token_type(false).build().unwrap();
    for marker in ["nonce", "at_hash", "c_hash", "s_hash"] {
        for typ in [Some("JWT"), None] {
            let mut builder = rsa()
                .token()
                .standard_claims(ISSUER, AUDIENCE, NOW)
                .claim(marker, "x");
            builder = match typ {
                Some(typ) => builder.header("typ", typ),
                None => builder.without_header("typ"),
            };
            let token = builder.sign();
            assert_eq!(
                relaxed.verify(&token, &keys(), now()).unwrap_err().kind(),
                ErrorKind::IdToken,
                "{marker} {typ:?}"
            );
            assert_eq!(
                strict().verify(&token, &keys(), now()).unwrap_err().kind(),
                ErrorKind::InvalidType
            );
        }
    }
}

#[test]
fn issuer_and_audience_in_every_wrong_shape() {
    use ErrorKind::{InvalidAudience, InvalidClaim, InvalidIssuer};
    let cases = [
        ("iss", Some(json!("https://evil.test")), InvalidIssuer),
        ("iss", Some(json!("https://issuer.test/")), InvalidIssuer),
        ("iss", Some(json!("HTTPS://ISSUER.TEST")), InvalidIssuer),
        (
            "iss",
            Some(json!("https://issuer.test.evil")),
            InvalidIssuer,
        ),
        ("iss", Some(json!("https://issuer.tes")), InvalidIssuer),
        ("iss", Some(json!("")), InvalidIssuer),
        ("iss", None, InvalidIssuer),
        ("iss", Some(json!([ISSUER])), InvalidClaim),
        ("iss", Some(json!(null)), InvalidClaim),
        ("iss", Some(json!(1)), InvalidClaim),
        ("iss", Some(json!({"iss": ISSUER})), InvalidClaim),
        ("aud", Some(json!("https://other.test")), InvalidAudience),
        ("aud", Some(json!("https://api.test/")), InvalidAudience),
        ("aud", Some(json!(["https://other.test"])), InvalidAudience),
        ("aud", Some(json!([])), InvalidAudience),
        ("aud", Some(json!("")), InvalidAudience),
        ("aud", None, InvalidAudience),
        ("aud", Some(json!([AUDIENCE, 1])), InvalidClaim),
        ("aud", Some(json!([[AUDIENCE]])), InvalidClaim),
        ("aud", Some(json!(null)), InvalidClaim),
        ("aud", Some(json!(7)), InvalidClaim),
        ("aud", Some(json!({"aud": AUDIENCE})), InvalidClaim),
    ];
    for (claim, value, expected) in cases {
        let builder = rsa().token().standard_claims(ISSUER, AUDIENCE, NOW);
        let token = match &value {
            Some(v) => builder.claim(claim, v.clone()),
            None => builder.without_claim(claim),
        }
        .sign();
        assert_eq!(refused(&token), expected, "{claim}: {value:?}");
    }
}

#[test]
fn oversized_and_malformed_tokens() {
    let padding = "x".repeat(9000);
    let big = rsa()
        .token()
        .standard_claims(ISSUER, AUDIENCE, NOW)
        .claim("padding", padding)
        .sign();
    assert_eq!(refused(&big), ErrorKind::TooLarge);
    let good = rsa().token().standard_claims(ISSUER, AUDIENCE, NOW).sign();
    let (h, rest) = good.split_once('.').unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    let cases = [
        String::new(),
        ".".into(),
        "..".into(),
        "...".into(),
        format!("{h}.{p}"),
        format!("{h}.{p}.{s}.{s}"),
        format!("{h}.{p}.{s}="),
        format!("{h}.{p}.{s} "),
        format!("Bearer {good}"),
        // A character outside base64url (always: `s.replace('_', "/")` was a no-op for
        // the one signature in two hundred without an underscore).
        format!("{h}.{p}./{}", &s[1..]),
        format!("{}.{p}.{s}", b64("not json")),
        format!("{}.{p}.{s}", b64("[]")),
        format!("{h}.{}.{s}", b64("{}")),
        format!(r#"{{"payload":"{p}","signatures":[{{"protected":"{h}","signature":"{s}"}}]}}"#),
        "\u{0}".repeat(10),
        "é.é.é".into(),
    ];
    for token in cases {
        let kind = refused(&token);
        assert!(
            matches!(
                kind,
                ErrorKind::Malformed | ErrorKind::InvalidSignature | ErrorKind::Encrypted
            ),
            "{token:?}: {kind:?}"
        );
    }
    // A JWE-shaped token.
    assert_eq!(
        refused(&format!("{h}.{p}.{s}.{s}.{s}")),
        ErrorKind::Encrypted
    );
}

#[test]
fn payload_that_is_not_an_object_after_a_valid_signature() {
    for payload in [
        "[]",
        "\"claims\"",
        "1",
        "null",
        "{",
        "{} {}",
        "{\"exp\":1}x",
    ] {
        let token = encode_compact(
            rsa(),
            r#"{"alg":"RS256","typ":"at+jwt","kid":"rsa"}"#,
            payload,
        );
        assert_eq!(refused(&token), ErrorKind::Malformed, "{payload}");
    }
    // Not UTF-8.
    let header = b64(r#"{"alg":"RS256","typ":"at+jwt","kid":"rsa"}"#);
    let input = format!("{header}.{}", b64([0xff, 0xfe, 0x7b]));
    let token = format!("{input}.{}", b64(rsa().sign_raw(input.as_bytes())));
    assert_eq!(refused(&token), ErrorKind::Malformed);
}

#[test]
fn signature_stripping_and_swapping() {
    let rs = rsa().token().standard_claims(ISSUER, AUDIENCE, NOW).sign();
    let es = ec().token().standard_claims(ISSUER, AUDIENCE, NOW).sign();
    let (rs_input, rs_sig) = rs.rsplit_once('.').unwrap();
    let (_, es_sig) = es.rsplit_once('.').unwrap();
    assert_eq!(
        refused(&format!("{rs_input}.{es_sig}")),
        ErrorKind::InvalidSignature
    );
    // The RSA signature over a modified payload.
    let (h, _) = rs_input.split_once('.').unwrap();
    let mut evil = claims();
    evil["sub"] = json!("admin");
    assert_eq!(
        refused(&format!("{h}.{}.{rs_sig}", b64(evil.to_string()))),
        ErrorKind::InvalidSignature
    );
    // Claiming ES256 for an RSA signature.
    let header = b64(json!({"alg":"ES256","typ":"at+jwt","kid":"rsa"}).to_string());
    let (_, p) = rs_input.split_once('.').unwrap();
    assert_eq!(
        refused(&format!("{header}.{p}.{rs_sig}")),
        ErrorKind::NoMatchingKey
    );
}

#[test]
fn only_allowed_algorithms_even_with_a_matching_key() {
    let v = rules().algorithms([Algorithm::ES256]).build().unwrap();
    let token = rsa().token().standard_claims(ISSUER, AUDIENCE, NOW).sign();
    assert_eq!(
        v.verify(&token, &keys(), now()).unwrap_err().kind(),
        ErrorKind::AlgorithmNotAllowed
    );
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn der_integer(bytes: &[u8]) -> Vec<u8> {
    let mut v: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    if v.first().is_some_and(|b| b & 0x80 != 0) {
        v.insert(0, 0);
    }
    let mut out = vec![0x02, v.len() as u8];
    out.extend(v);
    out
}

fn der_signature(r: &[u8], s: &[u8]) -> Vec<u8> {
    let mut body = der_integer(r);
    body.extend(der_integer(s));
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}
