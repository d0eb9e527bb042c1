//! `Validation::explain` agrees with `Validation::verify`, names failures in plain
//! words, and never shows the signature (nor, unasked, the payload).

use std::sync::LazyLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portcullis_jwt::{
    Algorithm, ClaimMatch, ClaimPath, ErrorKind, KeySet, Outcome, Preset, Rule, ScopeRequirement,
    Unmet, Validation,
};
use portcullis_testkit::{SigningAlgorithm, SigningKey, encode_compact, jwks};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "https://orders.example.com";
const NOW: u64 = 1_700_000_000;

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

struct Keys {
    signer: &'static SigningKey,
    stranger: SigningKey,
    /// The signer's key and another ES256 key without a `kid` conflict.
    set: KeySet,
}

static KEYS: LazyLock<Keys> = LazyLock::new(|| {
    let signer = SigningKey::shared(SigningAlgorithm::ES256);
    let other = SigningKey::generate(SigningAlgorithm::EdDSA);
    let stranger = SigningKey::generate(SigningAlgorithm::ES256);
    let set = KeySet::from_jwks(jwks([signer, &other]).to_string().as_bytes()).expect("JWKS");
    Keys {
        signer,
        stranger,
        set,
    }
});

/// The last segment of a token.
fn signature_of(token: &str) -> &str {
    token.rsplit('.').next().unwrap_or_default()
}

fn keycloak() -> Validation {
    Validation::builder()
        .preset(Preset::Keycloak)
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .expect("valid rules")
}

fn keycloak_token(aud: Value) -> String {
    KEYS.signer
        .token()
        .header("typ", "JWT")
        .claim("iss", ISSUER)
        .claim("aud", aud)
        .claim("sub", "alice")
        .claim("azp", "web-app")
        .claim("typ", "Bearer")
        .claim("iat", NOW - 10)
        .claim("exp", NOW + 300)
        .claim("jti", "j1")
        .claim("scope", "openid orders.read")
        .claim("email", "alice@example.com")
        .claim("realm_access", json!({"roles": ["orders-reader"]}))
        .sign()
}

#[test]
fn a_keycloak_token_for_the_account_console_is_refused_in_plain_words() {
    let token = keycloak_token(json!("account"));
    let explanation = keycloak().explain(&token, Some(&KEYS.set), now());
    let failure = explanation.first_failure().expect("refused");
    assert_eq!(failure.rule(), Rule::Audience);
    assert_eq!(
        failure.error().map(|e| e.kind()),
        Some(ErrorKind::InvalidAudience)
    );
    assert_eq!(
        failure.note(),
        r#"aud is ["account"]; this issuer accepts ["https://orders.example.com"]"#
    );
    assert!(failure.hint().expect("a hint").contains("Audience mapper"));
    let text = explanation.to_string();
    assert!(text.starts_with("refused by audience"), "{text}");
    assert!(text.contains("Audience mapper"), "{text}");
    assert!(!text.contains(signature_of(&token)), "{text}");
    assert!(!text.contains("alice@example.com"), "{text}");
    assert!(!format!("{explanation:?}").contains("alice@example.com"));
    // The payload only when asked for.
    assert!(
        explanation
            .unverified_payload()
            .expect("decoded")
            .contains("alice@example.com")
    );
    assert!(!explanation.is_accepted());
}

#[test]
fn an_accepted_token_passes_every_rule_and_meets_a_route_or_says_which_part_not() {
    let token = keycloak_token(json!([AUDIENCE, "account"]));
    let explanation = keycloak().explain(&token, Some(&KEYS.set), now());
    assert!(explanation.is_accepted(), "{explanation}");
    assert!(explanation.to_string().starts_with("accepted\n"));
    let rules: Vec<Rule> = explanation.steps().iter().map(|s| s.rule()).collect();
    assert_eq!(
        rules,
        [
            Rule::Size,
            Rule::Format,
            Rule::Algorithm,
            Rule::TokenType,
            Rule::Key,
            Rule::Signature,
            Rule::Payload,
            Rule::ClaimTypes,
            Rule::IdToken,
            Rule::Expiry,
            Rule::NotBefore,
            Rule::IssuedAt,
            Rule::MaxAge,
            Rule::Issuer,
            Rule::Audience,
            Rule::ProfileClaims,
            Rule::RequiredClaims,
            Rule::ClaimValues,
            Rule::Scopes,
            Rule::Roles,
        ]
    );
    let values = &explanation.steps()[17];
    assert_eq!(
        values.note(),
        r#"typ is "Bearer" (one of ["Bearer", "DPoP"])"#
    );
    let roles = &explanation.steps()[19];
    assert_eq!(roles.note(), r#"[orders-reader] at "/realm_access/roles""#);

    let met = ScopeRequirement::all_of(["orders.read"]).expect("valid");
    assert_eq!(
        explanation.requirement(&met, now()).outcome(),
        Outcome::Passed
    );
    let scopes = ScopeRequirement::all_of(["orders.write"]).expect("valid");
    let step = explanation.requirement(&scopes, now());
    assert_eq!(step.outcome(), Outcome::Failed);
    assert_eq!(step.unmet(), Some(Unmet::Scope));
    assert_eq!(
        step.note(),
        "scopes: granted [openid, orders.read]; [orders.write] missing"
    );
    let roles = ScopeRequirement::all_of(Vec::<String>::new())
        .and_then(|r| r.and_roles_any_of(["orders-admin"]))
        .expect("valid");
    let step = explanation.requirement(&roles, now());
    assert_eq!(step.unmet(), Some(Unmet::Role));
    assert!(
        step.note().contains("none of [orders-admin]"),
        "{}",
        step.note()
    );
}

#[test]
fn without_keys_the_signature_is_not_checked_and_nothing_is_accepted() {
    let token = keycloak_token(json!(AUDIENCE));
    let explanation = keycloak().explain(&token, None, now());
    assert!(explanation.first_failure().is_none(), "{explanation}");
    assert!(!explanation.signature_checked());
    assert!(!explanation.is_accepted());
    let signature = explanation
        .steps()
        .iter()
        .find(|s| s.rule() == Rule::Signature)
        .expect("listed");
    assert_eq!(signature.outcome(), Outcome::NotChecked);
    assert!(
        explanation
            .to_string()
            .starts_with("no rule refuses it, but the signature was not checked")
    );
}

#[test]
fn expired_and_wrong_issuer_are_both_named_the_first_first() {
    let token = KEYS
        .signer
        .token()
        .standard_claims("https://other.test", AUDIENCE, NOW - 7200)
        .sign();
    let validation = Validation::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .build()
        .expect("valid");
    let explanation = validation.explain(&token, Some(&KEYS.set), now());
    let failed: Vec<Rule> = explanation
        .steps()
        .iter()
        .filter(|s| s.outcome() == Outcome::Failed)
        .map(|s| s.rule())
        .collect();
    assert_eq!(failed, [Rule::Expiry, Rule::Issuer]);
    let expiry = explanation.first_failure().expect("refused");
    assert_eq!(expiry.note(), "exp 1699993100 (6900 s ago; leeway 30 s)");
}

#[test]
fn an_oversized_token_is_not_decoded() {
    let validation = Validation::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .max_token_size(64)
        .build()
        .expect("valid");
    let token = "a".repeat(65);
    let explanation = validation.explain(&token, Some(&KEYS.set), now());
    let failure = explanation.first_failure().expect("refused");
    assert_eq!(failure.rule(), Rule::Size);
    assert!(
        explanation.steps()[1..]
            .iter()
            .all(|s| s.outcome() == Outcome::NotChecked)
    );
}

#[test]
fn custom_checks_are_listed_by_position() {
    let validation = Validation::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .check(|_| Ok(()))
        .check(|_| Err("tenant suspended".into()))
        .build()
        .expect("valid");
    let token = KEYS
        .signer
        .token()
        .standard_claims(ISSUER, AUDIENCE, NOW)
        .sign();
    let explanation = validation.explain(&token, Some(&KEYS.set), now());
    let failure = explanation.first_failure().expect("refused");
    assert_eq!(failure.rule(), Rule::Check { index: 1 });
    assert_eq!(failure.note(), r#"refused: "tenant suspended""#);
    assert!(explanation.to_string().contains("check #2"));
}

#[test]
fn named_checks_are_listed_by_name_even_when_not_checked() {
    let validation = Validation::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .named_check("tenant is acme", |claims| match claims.get("tenant") {
            Some(tenant) if tenant == "acme" => Ok(()),
            _ => Err("another tenant".into()),
        })
        .check(|_| Ok(()))
        .build()
        .expect("valid");
    let token = |tenant: &str| {
        KEYS.signer
            .token()
            .standard_claims(ISSUER, AUDIENCE, NOW)
            .claim("tenant", tenant)
            .sign()
    };
    let explanation = validation.explain(&token("acme"), Some(&KEYS.set), now());
    assert!(explanation.is_accepted(), "{explanation}");
    let text = explanation.to_string();
    assert!(
        text.contains(r#"pass        check "tenant is acme": accepted"#),
        "{text}"
    );
    assert!(text.contains("pass        check #2: accepted"), "{text}");

    let explanation = validation.explain(&token("globex"), Some(&KEYS.set), now());
    let failure = explanation.first_failure().expect("refused");
    assert_eq!(failure.rule(), Rule::Check { index: 0 });
    assert_eq!(failure.check_name(), Some("tenant is acme"));
    assert_eq!(failure.note(), r#"refused: "another tenant""#);
    // Verify says the reason, never the name (which is for people).
    let error = validation
        .verify(&token("globex"), &KEYS.set, now())
        .expect_err("refused");
    assert_eq!(error.detail(), Some("another tenant"));

    let unreadable = validation.explain("e30.e30.c2ln", None, now());
    let named = unreadable
        .steps()
        .iter()
        .find(|s| s.rule() == Rule::Check { index: 0 })
        .expect("listed");
    assert_eq!(named.outcome(), Outcome::NotChecked);
    assert_eq!(named.check_name(), Some("tenant is acme"));
}

#[test]
fn claim_conditions_say_what_the_claim_is_and_what_the_route_wants() {
    let token = keycloak_token(json!(AUDIENCE));
    let explanation = keycloak().explain(&token, Some(&KEYS.set), now());
    let path = |text: &str| ClaimPath::parse(text).expect("valid path");
    let roles = path("/realm_access/roles");
    let cases = [
        (
            ClaimMatch::Contains,
            &roles,
            json!("orders-reader"),
            Outcome::Passed,
            r#"claim_contains: /realm_access/roles contains "orders-reader""#,
        ),
        (
            ClaimMatch::Contains,
            &roles,
            json!("orders-admin"),
            Outcome::Failed,
            r#"claim_contains: /realm_access/roles is ["orders-reader"]; this route requires it to contain "orders-admin""#,
        ),
        (
            ClaimMatch::Equals,
            &path("azp"),
            json!("web-app"),
            Outcome::Passed,
            r#"claim_equals: azp equals "web-app""#,
        ),
        (
            ClaimMatch::Equals,
            &path("tenant"),
            json!("acme"),
            Outcome::Failed,
            r#"claim_equals: no tenant; this route requires it to equal "acme""#,
        ),
        (
            ClaimMatch::Contains,
            &path("scope"),
            json!("orders.read"),
            Outcome::Passed,
            r#"claim_contains: scope contains "orders.read""#,
        ),
    ];
    for (matching, path, wanted, outcome, line) in cases {
        let step = explanation.claim_condition(matching, path, &wanted);
        assert_eq!(step.rule(), Rule::ClaimCondition { matching });
        assert_eq!(step.outcome(), outcome, "{step}");
        assert!(step.to_string().ends_with(line), "{step}");
        // The same answer as the rule itself, on the verified claims.
        let claims = keycloak()
            .verify(&token, &KEYS.set, now())
            .expect("accepted");
        assert_eq!(
            matching.holds(&claims, path, &wanted),
            outcome == Outcome::Passed
        );
    }
    let unreadable = keycloak().explain("e30.bm90IGpzb24.c2ln", None, now());
    let step = unreadable.claim_condition(ClaimMatch::Equals, &roles, &json!("x"));
    assert_eq!(step.outcome(), Outcome::NotChecked);
}

#[test]
fn a_requirement_names_every_part_that_falls_short_the_first_first() {
    let token = keycloak_token(json!(AUDIENCE));
    let explanation = keycloak().explain(&token, Some(&KEYS.set), now());
    let requirement = ScopeRequirement::all_of(["orders.write"])
        .and_then(|r| r.and_roles_all_of(["orders-admin"]))
        .expect("valid");
    let step = explanation.requirement(&requirement, now());
    assert_eq!(step.unmet(), Some(Unmet::Scope));
    let claims = keycloak()
        .verify(&token, &KEYS.set, now())
        .expect("accepted");
    assert_eq!(requirement.unmet_at(&claims, now()), Some(Unmet::Scope));
    assert_eq!(
        requirement
            .every_unmet_at(&claims, now())
            .collect::<Vec<_>>(),
        [Unmet::Scope, Unmet::Role]
    );
    assert_eq!(
        step.note(),
        "scopes: granted [openid, orders.read]; [orders.write] missing. roles: granted \
         [orders-reader] (at \"/realm_access/roles\"); [orders-admin] missing"
    );
}

/// A claim value from a pool of right, wrong, missing and mistyped ones.
fn claim(name: &'static str, good: Value) -> impl Strategy<Value = (&'static str, Option<Value>)> {
    prop_oneof![
        4 => Just(Some(good)),
        1 => Just(None),
        1 => Just(Some(json!(7))),
        1 => Just(Some(json!(["x", "account"]))),
        1 => Just(Some(json!("other"))),
        1 => Just(Some(json!(null))),
    ]
    .prop_map(move |value| (name, value))
}

fn claims() -> impl Strategy<Value = Map<String, Value>> {
    let time = |offset: i64| json!(1_700_000_000_i64 + offset);
    let exp = prop_oneof![
        Just(time(300)),
        Just(time(-300)),
        Just(time(20)),
        Just(time(-20))
    ];
    let nbf = prop_oneof![Just(time(0)), Just(time(600)), Just(time(25))];
    let iat = prop_oneof![Just(time(-10)), Just(time(-4000)), Just(time(600))];
    (
        (
            claim("iss", json!(ISSUER)),
            claim("aud", json!([AUDIENCE, "account"])),
            claim("sub", json!("alice")),
            claim("client_id", json!("web-app")),
            claim("jti", json!("j1")),
            claim("azp", json!("web-app")),
            claim("typ", json!("Bearer")),
            claim("ver", json!("2.0")),
            claim("token_use", json!("access")),
        ),
        (
            claim("scope", json!("read write")),
            claim("scp", json!(["read"])),
            claim("oid", json!("o")),
            claim("tid", json!("t")),
            claim("cid", json!("c")),
            prop::option::of(exp),
            prop::option::of(nbf),
            prop::option::of(iat),
            any::<bool>(),
        ),
    )
        .prop_map(|(a, b)| {
            let mut map = Map::new();
            let (exp, nbf, iat, nonce) = (b.5.clone(), b.6.clone(), b.7.clone(), b.8);
            let named = [
                a.0, a.1, a.2, a.3, a.4, a.5, a.6, a.7, a.8, b.0, b.1, b.2, b.3, b.4,
            ];
            for (name, value) in named {
                if let Some(value) = value {
                    map.insert(name.to_owned(), value);
                }
            }
            for (name, value) in [("exp", exp), ("nbf", nbf), ("iat", iat)] {
                if let Some(value) = value {
                    map.insert(name.to_owned(), value);
                }
            }
            if nonce {
                map.insert("nonce".to_owned(), json!("n"));
            }
            map
        })
}

/// How the token is put together: the header and who signs it.
#[derive(Clone, Debug)]
struct Shape {
    typ: Option<&'static str>,
    kid: Option<&'static str>,
    signer: u8,
    tamper: bool,
    garbage: Option<String>,
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        prop::option::of(prop::sample::select(vec!["at+jwt", "JWT", "dpop+jwt"])),
        prop::option::of(prop::sample::select(vec!["signer", "unknown"])),
        0..3u8,
        prop::bool::weighted(0.1),
        prop::option::weighted(0.05, "[A-Za-z0-9_.-]{0,40}"),
    )
        .prop_map(|(typ, kid, signer, tamper, garbage)| Shape {
            typ,
            kid,
            signer,
            tamper,
            garbage,
        })
}

fn token(shape: &Shape, claims: &Map<String, Value>) -> String {
    if let Some(garbage) = &shape.garbage {
        return garbage.clone();
    }
    let keys = &*KEYS;
    let key = if shape.signer == 0 {
        &keys.stranger
    } else {
        keys.signer
    };
    let mut header = Map::new();
    header.insert("alg".into(), "ES256".into());
    if let Some(typ) = shape.typ {
        header.insert("typ".into(), typ.into());
    }
    match shape.kid {
        Some("signer") => {
            header.insert("kid".into(), keys.signer.kid().into());
        }
        Some(other) => {
            header.insert("kid".into(), other.into());
        }
        None => {}
    }
    let token = encode_compact(
        key,
        &Value::Object(header).to_string(),
        &Value::Object(claims.clone()).to_string(),
    );
    if shape.tamper {
        // One payload character changed: the signature no longer matches.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let payload = &mut parts[1];
        let last = payload.pop().unwrap_or('A');
        payload.push(if last == 'A' { 'B' } else { 'A' });
        return parts.join(".");
    }
    token
}

fn validation() -> impl Strategy<Value = Validation> {
    (
        prop::sample::select(Preset::ALL.to_vec()),
        prop::sample::select(vec![AUDIENCE, "web-app", "account"]),
        any::<bool>(),
        prop::option::of(prop::sample::select(vec![60u64, 3600])),
        prop::option::of(prop::sample::select(vec!["email", "sub", "azp"])),
        prop::option::of(prop::sample::select(vec![
            ("ver", "1.0"),
            ("typ", "Bearer"),
        ])),
        any::<bool>(),
        prop::option::of(any::<bool>()),
    )
        .prop_map(
            |(preset, audience, require_kid, max_age, required, value, es256_only, relaxed)| {
                let mut builder = preset
                    .builder()
                    .issuer(ISSUER)
                    .audience(audience)
                    .require_kid(require_kid);
                if es256_only {
                    builder = builder.algorithms([Algorithm::ES256]);
                } else {
                    builder = builder.algorithms([Algorithm::RS256, Algorithm::EdDSA]);
                }
                if let Some(max_age) = max_age {
                    builder = builder.max_token_age(Duration::from_secs(max_age));
                }
                if let Some(required) = required {
                    builder = builder.require_claim(required);
                }
                if let Some((name, value)) = value {
                    builder = builder.require_claim_value(name, value);
                }
                if let Some(relaxed) = relaxed {
                    builder = builder.require_access_token_type(relaxed);
                }
                builder
                    .check(|claims| match claims.subject() {
                        Some("mallory") => Err("no mallory".into()),
                        _ => Ok(()),
                    })
                    .build()
                    .expect("valid rules")
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The explanation's first failure exists exactly when `verify` refuses, and is
    /// the same kind of error; the signature is never shown.
    #[test]
    fn the_first_failure_is_what_verify_says(
        validation in validation(),
        claims in claims(),
        shape in shape(),
    ) {
        let token = token(&shape, &claims);
        let verdict = validation.verify(&token, &KEYS.set, now());
        let explanation = validation.explain(&token, Some(&KEYS.set), now());
        let failure = explanation.first_failure().and_then(|s| s.error().map(|e| e.kind()));
        prop_assert_eq!(failure, verdict.as_ref().err().map(|e| e.kind()), "{}", explanation);
        prop_assert_eq!(explanation.is_accepted(), verdict.is_ok());
        if let Some(step) = explanation.first_failure() {
            prop_assert_eq!(step.error().and_then(|e| e.detail()),
                verdict.as_ref().err().and_then(|e| e.detail()));
        }
        let text = explanation.to_string();
        let signature = signature_of(&token);
        if signature.len() > 16 {
            prop_assert!(!text.contains(signature), "{}", text);
        }
        // Without keys, only the key and signature change: every other rule says the
        // same, so a token verify accepts has no failure at all.
        let unkeyed = validation.explain(&token, None, now());
        if verdict.is_ok() {
            prop_assert!(unkeyed.first_failure().is_none(), "{}", unkeyed);
        }
    }
}
