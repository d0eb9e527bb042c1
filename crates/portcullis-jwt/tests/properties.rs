//! Property tests for the parsers of untrusted input: the compact-JWS parser, full
//! verification and the scope parser.
//!
//! Case counts are kept moderate so the suite runs in seconds; the cargo-fuzz target in
//! `fuzz/` explores the same ground for as long as one cares to run it.

use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_jwt::{
    Algorithm, DEFAULT_MAX_TOKEN_SIZE, ErrorKind, Key, KeySet, Scopes, UnverifiedToken, Validation,
    is_scope_token,
};
use portcullis_testkit::{SigningAlgorithm, SigningKey, jwks};
use proptest::prelude::*;
use serde_json::{Value, json};

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "https://api.test";
const IAT: u64 = 1_700_000_000;

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn parse(token: &str) -> Result<UnverifiedToken<'_>, portcullis_jwt::Error> {
    UnverifiedToken::parse(token, DEFAULT_MAX_TOKEN_SIZE)
}

/// Valid tokens, one per kind of key, with the key set and rules that accept them.
struct Fixture {
    name: &'static str,
    token: String,
    keys: KeySet,
    validation: Validation,
}

impl Fixture {
    fn new(name: &'static str, alg: SigningAlgorithm, verifier_alg: Algorithm) -> Fixture {
        let key = SigningKey::generate(alg);
        let token = key
            .token()
            .standard_claims(ISSUER, AUDIENCE, IAT)
            .claim("scope", "read write")
            .claim("roles", json!(["a", "b"]))
            .sign();
        let keys = if alg.is_symmetric() {
            let secret = key.secret().expect("an HMAC secret");
            KeySet::from_keys([
                Key::hmac_secret(Some(key.kid()), verifier_alg, &secret).expect("an HMAC key")
            ])
        } else {
            KeySet::from_jwks(jwks([&key]).to_string().as_bytes()).expect("a JWK Set")
        };
        let validation = Validation::builder()
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .algorithms([verifier_alg])
            .build()
            .expect("valid rules");
        let fixture = Fixture {
            name,
            token,
            keys,
            validation,
        };
        fixture
            .verify(&fixture.token)
            .unwrap_or_else(|e| panic!("{name}: the untouched token is refused: {e:?}"));
        fixture
    }

    fn verify(&self, token: &str) -> Result<portcullis_jwt::Claims, portcullis_jwt::Error> {
        self.validation.verify(token, &self.keys, now())
    }
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(IAT + 60)
}

static FIXTURES: LazyLock<Vec<Fixture>> = LazyLock::new(|| {
    vec![
        Fixture::new("RS256", SigningAlgorithm::RS256, Algorithm::RS256),
        Fixture::new("ES256", SigningAlgorithm::ES256, Algorithm::ES256),
        Fixture::new("EdDSA", SigningAlgorithm::EdDSA, Algorithm::EdDSA),
        Fixture::new("HS256", SigningAlgorithm::HS256, Algorithm::HS256),
    ]
});

/// The three segments of a token.
fn segments(token: &str) -> [&str; 3] {
    let mut parts = token.split('.');
    let segments = [(); 3].map(|()| parts.next().expect("three segments"));
    assert!(parts.next().is_none(), "more than three segments");
    segments
}

/// A scope token per RFC 6749 §3.3, minus the comma: `%x21 / %x23-2B / %x2D-5B / %x5D-7E`.
const SCOPE_TOKEN: &str = "[\\x21\\x23-\\x2b\\x2d-\\x5b\\x5d-\\x7e]{1,12}";

/// The scope grammar, written independently of the crate's parser: non-empty tokens of
/// allowed characters separated by single spaces.
fn matches_scope_grammar(s: &str) -> bool {
    !s.is_empty()
        && s.split(' ').all(|token| {
            !token.is_empty()
                && token.chars().all(
                    |c| matches!(c, '\x21' | '\x23'..='\x2b' | '\x2d'..='\x5b' | '\x5d'..='\x7e'),
                )
        })
}

/// Any JSON value, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-zA-Z0-9+/ ]{0,12}".prop_map(Value::from),
        prop_oneof![
            Just("RS256"),
            Just("HS256"),
            Just("none"),
            Just("at+jwt"),
            Just("JWT")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A header object built from the members the parser acts on, with arbitrary values,
/// as JSON text (written by hand, so duplicate names survive) and as its member list.
fn json_header() -> impl Strategy<Value = (String, Vec<(&'static str, Value)>)> {
    let name = prop_oneof![
        Just("alg"),
        Just("kid"),
        Just("typ"),
        Just("crit"),
        Just("b64"),
        Just("jwk"),
        Just("cty"),
    ];
    // Strings are the usual shape of every header member, and a real `alg` the usual
    // `alg`: weight them so that a fair share of headers get past the first check.
    let value = prop_oneof![json_value(), "[ -~]{0,8}".prop_map(Value::from)];
    let alg = prop_oneof![
        3 => prop::sample::select(Algorithm::ALL.to_vec()).prop_map(|a| Value::from(a.name())),
        1 => json_value(),
    ];
    let members = prop::collection::vec((name, value), 0..4);
    (prop::option::of(alg), members, any::<prop::sample::Index>()).prop_map(
        |(alg, mut members, at)| {
            if let Some(alg) = alg {
                let at = at.index(members.len() + 1);
                members.insert(at, ("alg", alg));
            }
            let body: Vec<String> = members
                .iter()
                .map(|(name, value)| format!("{name:?}:{value}"))
                .collect();
            (format!("{{{}}}", body.join(",")), members)
        },
    )
}

/// A header the parser accepts: a supported `alg`, and maybe a `kid` and a `typ`.
fn valid_header() -> impl Strategy<Value = String> {
    let alg = prop::sample::select(Algorithm::ALL.to_vec());
    let kid = prop::option::of(any::<String>());
    let typ = prop::option::of("[ -~]{0,12}");
    (alg, kid, typ).prop_map(|(alg, kid, typ)| {
        let mut header = serde_json::Map::new();
        header.insert("alg".into(), alg.name().into());
        if let Some(kid) = kid {
            header.insert("kid".into(), kid.into());
        }
        if let Some(typ) = typ {
            header.insert("typ".into(), typ.into());
        }
        Value::Object(header).to_string()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parser_never_panics_on_any_string(s in any::<String>()) {
        let _ = parse(&s);
    }

    #[test]
    fn parser_never_panics_on_near_alphabet_strings(s in "[A-Za-z0-9_.=+/ -]{0,120}") {
        let _ = parse(&s);
    }

    #[test]
    fn parser_never_panics_on_three_base64url_segments(
        // Half the headers are valid, so the accepting side is exercised too.
        (valid_h, h) in prop_oneof![
            "[A-Za-z0-9_-]{0,80}".prop_map(|h| (false, h)),
            valid_header().prop_map(|h| (true, b64(h))),
        ],
        p in "[A-Za-z0-9_-]{0,80}",
        s in "[A-Za-z0-9_-]{0,80}",
    ) {
        let token = format!("{h}.{p}.{s}");
        let decodes = |segment: &str| !segment.is_empty() && URL_SAFE_NO_PAD.decode(segment).is_ok();
        match parse(&token) {
            Ok(parsed) => {
                // Only possible if the header segment decodes to a JSON object with an alg.
                prop_assert!(!h.is_empty() && !p.is_empty() && !s.is_empty());
                let expected = format!("{h}.{p}");
                prop_assert_eq!(parsed.signing_input(), expected.as_bytes());
            }
            Err(error) => prop_assert!(
                !(valid_h && decodes(&p) && decodes(&s)),
                "{token:?} refused: {error:?}"
            ),
        }
    }

    #[test]
    fn parser_never_panics_on_any_header_bytes(
        header in prop::collection::vec(any::<u8>(), 0..64),
        signature in prop::collection::vec(any::<u8>(), 1..64),
    ) {
        let token = format!("{}.{}.{}", b64(&header), b64("{}"), b64(&signature));
        let _ = parse(&token);
    }

    #[test]
    fn parser_never_panics_on_json_headers_and_refuses_what_it_must(
        (header, members) in json_header(),
        signature in prop::collection::vec(any::<u8>(), 1..64),
    ) {
        let token = format!("{}.{}.{}", b64(&header), b64("{}"), b64(&signature));
        if let Ok(parsed) = parse(&token) {
            let named = |wanted: &'static str| {
                members.iter().filter(move |(name, _)| *name == wanted)
            };
            for name in ["alg", "kid", "typ", "crit", "b64", "jwk", "cty"] {
                prop_assert!(named(name).count() <= 1, "duplicate {} accepted", name);
            }
            prop_assert_eq!(named("crit").count() + named("b64").count(), 0);
            let alg = named("alg").next().and_then(|(_, v)| v.as_str());
            prop_assert_eq!(alg, Some(parsed.header().algorithm().name()));
            let kid = named("kid").next().map(|(_, v)| v.as_str().expect("a string kid"));
            prop_assert_eq!(parsed.header().kid(), kid);
        }
    }

    #[test]
    fn accepted_tokens_reserialise_to_the_same_segments(
        header in prop_oneof![json_header().prop_map(|(text, _)| text), valid_header()],
        payload in json_value(),
        signature in prop::collection::vec(any::<u8>(), 1..300),
        padding in "[ \\t\\n]{0,2}",
    ) {
        let payload = format!("{padding}{payload}");
        let token = format!("{}.{}.{}", b64(&header), b64(&payload), b64(&signature));
        if let Ok(parsed) = parse(&token) {
            let [h, p, s] = segments(&token);
            let input = std::str::from_utf8(parsed.signing_input()).expect("ASCII");
            prop_assert_eq!(input, format!("{h}.{p}"));
            prop_assert_eq!(parsed.signature(), signature.as_slice());
            prop_assert_eq!(b64(parsed.signature()), s);
            prop_assert_eq!(format!("{input}.{}", b64(parsed.signature())), token.clone());
            let unverified = parsed.unverified_payload().expect("UTF-8 payload");
            prop_assert_eq!(b64(&unverified), p);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Segments decode exactly as the `base64` crate's `URL_SAFE_NO_PAD` decodes them:
    /// the same bytes, and the same refusals (lengths of 1 mod 4, set trailing bits), the
    /// payload's included; a token is refused exactly when one of them is, or when the
    /// header is not a JSON object.
    #[test]
    fn segments_decode_as_the_base64_crate_does(
        header_tail in "[A-Za-z0-9_-]{0,3}",
        payload in "[A-Za-z0-9_-]{1,40}",
        signature in "[A-Za-z0-9_-]{1,90}",
    ) {
        let header = format!("{}{header_tail}", b64(r#"{"alg":"RS256"}"#));
        let token = format!("{header}.{payload}.{signature}");
        let reference = |segment: &str| URL_SAFE_NO_PAD.decode(segment).ok();
        // The tail adds bytes after the header's `}`: whitespace keeps it a JSON object
        // (and the header valid), anything else does not.
        let header_ok = reference(&header).is_some_and(|bytes| {
            serde_json::from_slice::<serde_json::Value>(&bytes).is_ok_and(|v| v.is_object())
        });
        match parse(&token) {
            Ok(parsed) => {
                prop_assert!(header_ok, "header {:?}", header);
                // The payload's encoding is checked when parsing, before any signature.
                prop_assert!(reference(&payload).is_some(), "payload {:?}", payload);
                prop_assert_eq!(Some(parsed.signature().to_vec()), reference(&signature));
                let expected = reference(&payload).and_then(|p| String::from_utf8(p).ok());
                prop_assert_eq!(parsed.unverified_payload().ok(), expected);
            }
            Err(_) => {
                prop_assert!(!header_ok || reference(&signature).is_none()
                    || reference(&payload).is_none(),
                    "{:?} refused", token);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any one bit of the decoded signature or payload, flipped, and the token is refused.
    #[test]
    fn a_flipped_bit_in_signature_or_payload_is_refused(
        fixture in 0..4usize,
        in_signature in any::<bool>(),
        index in any::<prop::sample::Index>(),
        bit in 0..8u8,
    ) {
        let fixture = &FIXTURES[fixture];
        let [h, p, s] = segments(&fixture.token);
        let mut payload = URL_SAFE_NO_PAD.decode(p).expect("base64url");
        let mut signature = URL_SAFE_NO_PAD.decode(s).expect("base64url");
        let target = if in_signature { &mut signature } else { &mut payload };
        let i = index.index(target.len());
        target[i] ^= 1 << bit;
        let tampered = format!("{h}.{}.{}", b64(&payload), b64(&signature));
        // The signature is checked before the payload is even decoded.
        let error = fixture.verify(&tampered).expect_err(fixture.name);
        prop_assert_eq!(error.kind(), ErrorKind::InvalidSignature, "{}", fixture.name);
    }

    /// Any one bit of the token text, flipped, and the token is refused: the header is
    /// signed too, and a changed character either decodes differently or not at all.
    #[test]
    fn a_flipped_bit_anywhere_in_the_token_is_refused(
        fixture in 0..4usize,
        index in any::<prop::sample::Index>(),
        bit in 0..7u8,
    ) {
        let fixture = &FIXTURES[fixture];
        let mut bytes = fixture.token.clone().into_bytes();
        let i = index.index(bytes.len());
        bytes[i] ^= 1 << bit;
        let tampered = String::from_utf8(bytes).expect("a 7-bit flip stays ASCII");
        prop_assert!(fixture.verify(&tampered).is_err(), "{}: byte {} bit {}", fixture.name, i, bit);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn scope_parser_never_panics_and_follows_the_grammar(s in any::<String>()) {
        let scopes = Scopes::parse(&s);
        prop_assert_eq!(!scopes.is_empty(), matches_scope_grammar(&s), "{:?}", s);
    }

    #[test]
    fn scope_parser_follows_the_grammar_near_its_edges(
        s in "[\\x1f-\\x7f\\t,\u{e9}]{0,24}"
    ) {
        let scopes = Scopes::parse(&s);
        prop_assert_eq!(!scopes.is_empty(), matches_scope_grammar(&s), "{:?}", s);
        for token in s.split(' ') {
            prop_assert_eq!(is_scope_token(token), matches_scope_grammar(token), "{:?}", token);
        }
    }

    #[test]
    fn valid_scope_strings_round_trip_through_display(
        tokens in prop::collection::vec(SCOPE_TOKEN, 1..8)
    ) {
        let s = tokens.join(" ");
        prop_assert!(matches_scope_grammar(&s));
        let scopes = Scopes::parse(&s);
        let mut expected = tokens.clone();
        expected.sort();
        expected.dedup();
        prop_assert_eq!(scopes.iter().collect::<Vec<_>>(), expected.iter().map(String::as_str).collect::<Vec<_>>());
        let displayed = scopes.to_string();
        prop_assert_eq!(&displayed, &expected.join(" "));
        prop_assert_eq!(Scopes::parse(&displayed), scopes.clone());
        for token in &tokens {
            prop_assert!(scopes.contains(token));
        }
        prop_assert_eq!(Scopes::from_tokens(&tokens), scopes);
    }
}

/// Must match the constants of `fuzz/fuzz_targets/verify.rs`.
const FUZZ_ISSUER: &str = "https://issuer.fuzz";
const FUZZ_AUDIENCE: &str = "https://api.fuzz";
const FUZZ_HMAC_SECRET: &[u8] = b"portcullis-fuzz-hmac-secret-32-bytes-at-least";

/// Writes the fuzz target's key set (`fuzz/keys/jwks.json`, public keys only) and its
/// seed corpus (`fuzz/corpus/verify/`): valid tokens for every kind of key and one
/// invalid token per class of the negative suite. Fresh keys each run, so the two are
/// always written together:
///
/// `cargo test -p portcullis-jwt --test properties -- --ignored write_fuzz_seeds`
#[test]
#[ignore = "writes files under fuzz/; run by hand to regenerate the corpus"]
fn write_fuzz_seeds() {
    let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let corpus = fuzz.join("corpus/verify");
    std::fs::create_dir_all(&corpus).expect("the corpus directory");
    std::fs::create_dir_all(fuzz.join("keys")).expect("the keys directory");
    if let Ok(old) = std::fs::read_dir(&corpus) {
        for entry in old.flatten() {
            std::fs::remove_file(entry.path()).expect("an old seed removed");
        }
    }

    let key = |alg, kid: &str| SigningKey::generate(alg).with_kid(kid);
    let rs = key(SigningAlgorithm::RS256, "rs256");
    let ps = key(SigningAlgorithm::PS256, "ps256");
    let es256 = key(SigningAlgorithm::ES256, "es256");
    let es384 = key(SigningAlgorithm::ES384, "es384");
    let ed = key(SigningAlgorithm::EdDSA, "ed25519");
    let hs = SigningKey::hmac(SigningAlgorithm::HS256, FUZZ_HMAC_SECRET)
        .expect("an HMAC key")
        .with_kid("hs256");
    let document =
        serde_json::to_string_pretty(&jwks([&rs, &ps, &es256, &es384, &ed])).expect("JSON");
    std::fs::write(fuzz.join("keys/jwks.json"), document + "\n").expect("jwks.json written");

    let claims = |key| {
        SigningKey::token(key)
            .standard_claims(FUZZ_ISSUER, FUZZ_AUDIENCE, IAT)
            .claim("scope", "read write orders:read")
            .claim("tenant", "acme")
            .claim("roles", json!(["admin", "viewer"]))
    };
    let sign_raw = |key: &SigningKey, header: &str, payload: &str| {
        portcullis_testkit::encode_compact(key, header, payload)
    };
    let valid = claims(&rs).sign();
    let [h, p, s] = segments(&valid);
    let mut tampered = URL_SAFE_NO_PAD.decode(s).expect("base64url");
    tampered[7] ^= 0x20;
    let rs_header = r#"{"alg":"RS256","typ":"at+jwt","kid":"rs256"}"#;
    let payload = claims(&rs).claims_json();

    let seeds: Vec<(&str, String)> = vec![
        ("valid-rs256", valid.clone()),
        ("valid-ps256", claims(&ps).sign()),
        ("valid-es256", claims(&es256).sign()),
        ("valid-es384", claims(&es384).sign()),
        ("valid-eddsa", claims(&ed).sign()),
        ("valid-hs256", claims(&hs).sign()),
        ("valid-no-kid", claims(&rs).without_header("kid").sign()),
        (
            "valid-aud-array",
            claims(&es256)
                .claim("aud", json!(["x", FUZZ_AUDIENCE]))
                .sign(),
        ),
        (
            "valid-scp-array",
            claims(&ed)
                .without_claim("scope")
                .claim("scp", json!(["a", "b"]))
                .sign(),
        ),
        (
            "valid-fractional-exp",
            claims(&ed).claim("exp", IAT as f64 + 300.5).sign(),
        ),
        ("expired", claims(&rs).claim("exp", IAT - 600).sign()),
        ("not-yet-valid", claims(&rs).claim("nbf", IAT + 600).sign()),
        (
            "issued-in-future",
            claims(&rs).claim("iat", IAT + 600).sign(),
        ),
        (
            "wrong-issuer",
            claims(&rs).claim("iss", "https://evil.fuzz").sign(),
        ),
        (
            "wrong-audience",
            claims(&rs).claim("aud", "https://other.fuzz").sign(),
        ),
        ("missing-exp", claims(&rs).without_claim("exp").sign()),
        ("missing-sub", claims(&rs).without_claim("sub").sign()),
        ("exp-string", claims(&rs).claim("exp", "2000000000").sign()),
        (
            "valid-malformed-scope",
            claims(&rs).claim("scope", "read,write").sign(),
        ),
        (
            "custom-check-rejects",
            claims(&rs).claim("tenant", 7).sign(),
        ),
        ("typ-jwt", claims(&rs).header("typ", "JWT").sign()),
        (
            "id-token",
            claims(&rs).header("typ", "JWT").claim("nonce", "n").sign(),
        ),
        ("unknown-kid", claims(&rs).header("kid", "nobody").sign()),
        (
            "alg-none",
            format!("{}.{p}.", b64(r#"{"alg":"none","typ":"at+jwt"}"#)),
        ),
        (
            "hs256-with-rsa-kid",
            sign_raw(
                &hs,
                r#"{"alg":"HS256","typ":"at+jwt","kid":"rs256"}"#,
                &payload,
            ),
        ),
        ("crit", claims(&rs).header("crit", json!(["exp"])).sign()),
        ("b64-false", claims(&rs).header("b64", false).sign()),
        (
            "embedded-jwk",
            claims(&rs)
                .header("jwk", rs.public_jwk())
                .header("kid", "attacker")
                .sign(),
        ),
        (
            "duplicate-header-member",
            sign_raw(
                &rs,
                r#"{"alg":"RS256","typ":"at+jwt","kid":"rs256","kid":"rs256"}"#,
                &payload,
            ),
        ),
        (
            "duplicate-payload-member",
            sign_raw(
                &rs,
                rs_header,
                &payload.replacen('{', &format!("{{\"aud\":\"{FUZZ_AUDIENCE}\","), 1),
            ),
        ),
        ("payload-not-json", sign_raw(&rs, rs_header, "not json")),
        ("payload-array", sign_raw(&rs, rs_header, "[]")),
        ("tampered-signature", format!("{h}.{p}.{}", b64(&tampered))),
        ("five-segments-jwe", format!("{h}.{p}.{s}.{s}.{s}")),
        ("four-segments", format!("{h}.{p}.{s}.{s}")),
        ("padded", format!("{valid}==")),
        ("standard-base64", valid.replace('-', "+").replace('_', "/")),
        ("whitespace", format!(" {valid}")),
        ("empty-segments", "..".to_owned()),
    ];
    for (name, token) in &seeds {
        std::fs::write(corpus.join(name), token).expect("a seed written");
    }
}

/// The committed seeds are what their names say against the fuzz target's key set and
/// rules (rebuilt here as `fuzz/fuzz_targets/verify.rs` builds them): `valid-*` verify,
/// every other seed is refused.
#[test]
fn fuzz_seeds_are_what_their_names_say() {
    let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let jwks = std::fs::read(fuzz.join("keys/jwks.json")).expect("fuzz/keys/jwks.json");
    let jwks = KeySet::from_jwks(&jwks).expect("a JWK Set");
    assert_eq!(jwks.len(), 5, "{:?}", jwks.skipped());
    let hmac =
        Key::hmac_secret(Some("hs256"), Algorithm::HS256, FUZZ_HMAC_SECRET).expect("an HMAC key");
    let keys = KeySet::from_keys(jwks.keys().iter().cloned().chain([hmac]));
    let validation = Validation::builder()
        .issuer(FUZZ_ISSUER)
        .audience(FUZZ_AUDIENCE)
        .algorithms(
            portcullis_jwt::AlgorithmSet::ASYMMETRIC.union(portcullis_jwt::AlgorithmSet::HMAC),
        )
        .require_claim("sub")
        .check(|claims| match claims.get("tenant") {
            Some(Value::String(_)) | None => Ok(()),
            Some(_) => Err("tenant".into()),
        })
        .build()
        .expect("valid rules");
    let mut seen = 0;
    for entry in std::fs::read_dir(fuzz.join("corpus/verify")).expect("the corpus") {
        let path = entry.expect("a seed").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a name")
            .to_owned();
        if is_fuzzer_output(&name) {
            // What `cargo fuzz run verify` adds to the corpus (named by their SHA-1):
            // mutations of the valid seeds may verify, so their names promise nothing.
            continue;
        }
        let token = std::fs::read_to_string(&path).expect("a UTF-8 seed");
        let result = validation.verify(&token, &keys, now());
        if name.starts_with("valid-") {
            let claims = result.unwrap_or_else(|e| panic!("{name} refused: {e:?}"));
            assert_eq!(claims.issuer(), Some(FUZZ_ISSUER), "{name}");
            // A malformed scope string is not an error: it grants nothing.
            let grants = !claims.scopes().is_empty();
            assert_eq!(grants, name != "valid-malformed-scope", "{name}");
        } else {
            assert!(result.is_err(), "{name} accepted");
        }
        seen += 1;
    }
    assert!(seen >= 30, "only {seen} seeds");
}

/// libFuzzer names the inputs it keeps by their SHA-1: 40 lowercase hex digits.
fn is_fuzzer_output(name: &str) -> bool {
    name.len() == 40 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
