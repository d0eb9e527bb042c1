//! Step-up requirements (RFC 9470): `acr` values and `max_age` on the one
//! `ScopeRequirement`, checked against tokens minted by the testkit (josekit), at times
//! given exactly (no clock is read).

#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portcullis_jwt::{Claims, KeySet, MAX_ACR_VALUE_LENGTH, ScopeRequirement, Unmet, Validation};
use portcullis_testkit::{SigningAlgorithm, SigningKey, TokenBuilder, jwks};
use serde_json::json;

const ISS: &str = "https://issuer.test/";
const AUD: &str = "https://api.test";
/// When the tokens are issued (Unix seconds).
const NOW: u64 = 1_700_000_000;
const SILVER: &str = "urn:mace:incommon:iap:silver";
const GOLD: &str = "urn:mace:incommon:iap:gold";

fn key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate(SigningAlgorithm::ES256))
}

fn keys() -> &'static KeySet {
    static KEYS: OnceLock<KeySet> = OnceLock::new();
    KEYS.get_or_init(|| KeySet::from_jwks(jwks([key()]).to_string().as_bytes()).unwrap())
}

fn at(secs: f64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs_f64(secs)
}

/// The claims of a valid token changed by `customize`, verified with `leeway` at
/// issuance time.
fn claims_with_leeway(
    leeway: Duration,
    customize: impl FnOnce(TokenBuilder<'_>) -> TokenBuilder<'_>,
) -> Claims {
    let validation = Validation::builder()
        .issuer(ISS)
        .audience(AUD)
        .leeway(leeway)
        .build()
        .unwrap();
    let token = customize(key().token().standard_claims(ISS, AUD, NOW)).sign();
    validation.verify(&token, keys(), at(NOW as f64)).unwrap()
}

fn claims(customize: impl FnOnce(TokenBuilder<'_>) -> TokenBuilder<'_>) -> Claims {
    claims_with_leeway(Duration::from_secs(30), customize)
}

fn acr(values: &[&str]) -> ScopeRequirement {
    ScopeRequirement::all_of(Vec::<&str>::new())
        .unwrap()
        .and_acr_values(values)
        .unwrap()
}

fn max_age(secs: u64) -> ScopeRequirement {
    ScopeRequirement::all_of(Vec::<&str>::new())
        .unwrap()
        .and_max_age(Duration::from_secs(secs))
        .unwrap()
}

#[test]
fn acr_must_be_one_of_the_values() {
    let now = at(NOW as f64);
    let requirement = acr(&[GOLD, SILVER]);
    for (token_acr, expected) in [
        (json!(SILVER), None),
        (json!(GOLD), None),
        (
            json!("urn:mace:incommon:iap:bronze"),
            Some(Unmet::UserAuthentication),
        ),
        // Exact comparison: neither a prefix, nor another case, nor a list.
        (
            json!("urn:mace:incommon:iap:silve"),
            Some(Unmet::UserAuthentication),
        ),
        (
            json!("URN:MACE:INCOMMON:IAP:SILVER"),
            Some(Unmet::UserAuthentication),
        ),
        (
            json!(format!("{GOLD} {SILVER}")),
            Some(Unmet::UserAuthentication),
        ),
        (json!(""), Some(Unmet::UserAuthentication)),
        // Not a string: falls short, never read as one.
        (json!([SILVER]), Some(Unmet::UserAuthentication)),
        (json!(2), Some(Unmet::UserAuthentication)),
        (json!(null), Some(Unmet::UserAuthentication)),
    ] {
        let claims = claims(|t| t.claim("acr", token_acr.clone()));
        assert_eq!(requirement.unmet_at(&claims, now), expected, "{token_acr}");
        // Without a max_age, the time does not matter.
        assert_eq!(requirement.unmet(&claims), expected, "{token_acr}");
    }
    let missing = claims(|t| t);
    assert_eq!(
        requirement.unmet_at(&missing, now),
        Some(Unmet::UserAuthentication)
    );
    // A requirement without acr values accepts a token without acr.
    assert_eq!(
        ScopeRequirement::all_of(Vec::<&str>::new())
            .unwrap()
            .unmet_at(&missing, now),
        None
    );
}

#[test]
fn auth_time_must_be_no_older_than_max_age_with_the_leeway() {
    // Authenticated at NOW - 100; max_age 300 s, leeway 30 s: fresh until NOW + 230.
    let fresh = claims(|t| t.claim("auth_time", NOW - 100));
    let requirement = max_age(300);
    let deadline = (NOW + 230) as f64;
    for (now, expected) in [
        (NOW as f64, None),
        (deadline - 0.001, None),
        (deadline, None),
        (deadline + 0.001, Some(Unmet::UserAuthentication)),
        (deadline + 3600.0, Some(Unmet::UserAuthentication)),
    ] {
        assert_eq!(requirement.unmet_at(&fresh, at(now)), expected, "at {now}");
    }
    // The leeway is the validation's: with none, the deadline is NOW + 200.
    let strict = claims_with_leeway(Duration::ZERO, |t| t.claim("auth_time", NOW - 100));
    assert_eq!(requirement.unmet_at(&strict, at((NOW + 200) as f64)), None);
    assert_eq!(
        requirement.unmet_at(&strict, at((NOW + 200) as f64 + 0.001)),
        Some(Unmet::UserAuthentication)
    );
    // A fractional auth_time counts to the fraction.
    let fractional = claims(|t| t.claim("auth_time", (NOW - 100) as f64 + 0.5));
    assert_eq!(requirement.unmet_at(&fractional, at(deadline + 0.4)), None);
    assert_eq!(
        requirement.unmet_at(&fractional, at(deadline + 0.6)),
        Some(Unmet::UserAuthentication)
    );
}

#[test]
fn max_age_zero_asks_for_an_authentication_within_the_leeway() {
    let requirement = max_age(0);
    let claims = claims(|t| t.claim("auth_time", NOW));
    assert_eq!(requirement.unmet_at(&claims, at((NOW + 30) as f64)), None);
    assert_eq!(
        requirement.unmet_at(&claims, at((NOW + 31) as f64)),
        Some(Unmet::UserAuthentication)
    );
}

#[test]
fn missing_mistyped_or_future_auth_time_falls_short() {
    let requirement = max_age(300);
    let now = at(NOW as f64);
    let short = Some(Unmet::UserAuthentication);
    assert_eq!(requirement.unmet_at(&claims(|t| t), now), short);
    for value in [json!("1700000000"), json!(null), json!([NOW]), json!(1e300)] {
        let claims = claims(|t| t.claim("auth_time", value.clone()));
        assert_eq!(requirement.unmet_at(&claims, now), short, "{value}");
    }
    // In the future by the leeway: accepted (clock skew); beyond it: not.
    let skewed = claims(|t| t.claim("auth_time", NOW + 30));
    assert_eq!(requirement.unmet_at(&skewed, now), None);
    let future = claims(|t| t.claim("auth_time", NOW + 31));
    assert_eq!(requirement.unmet_at(&future, now), short);
}

#[test]
fn unmet_without_a_time_fails_closed_on_max_age() {
    let fresh = claims(|t| t.claim("auth_time", NOW));
    let requirement = max_age(300);
    assert_eq!(requirement.unmet_at(&fresh, at(NOW as f64)), None);
    assert_eq!(requirement.unmet(&fresh), Some(Unmet::UserAuthentication));
    // The audience still comes first.
    let elsewhere = requirement
        .clone()
        .and_audience_any_of(["https://other.test"])
        .unwrap();
    assert_eq!(elsewhere.unmet(&fresh), Some(Unmet::Audience));
}

#[test]
fn checked_after_the_audience_and_before_scopes_and_roles() {
    let now = at(NOW as f64);
    let weak = claims(|t| t.claim("acr", "bronze").claim("scope", "read"));
    let requirement = ScopeRequirement::all_of(["write"])
        .unwrap()
        .and_acr_values(["gold"])
        .unwrap();
    assert_eq!(
        requirement.unmet_at(&weak, now),
        Some(Unmet::UserAuthentication)
    );
    assert_eq!(
        requirement
            .clone()
            .and_audience_any_of(["https://other.test"])
            .unwrap()
            .unmet_at(&weak, now),
        Some(Unmet::Audience)
    );
    let strong = claims(|t| t.claim("acr", "gold").claim("scope", "read"));
    assert_eq!(requirement.unmet_at(&strong, now), Some(Unmet::Scope));
    let enough = claims(|t| t.claim("acr", "gold").claim("scope", "write"));
    assert_eq!(requirement.unmet_at(&enough, now), None);

    // Roles come after the step-up too.
    let validation = Validation::builder()
        .issuer(ISS)
        .audience(AUD)
        .roles_claim("roles")
        .build()
        .unwrap();
    let with_roles = |acr: &str, roles: &[&str]| {
        let token = key()
            .token()
            .standard_claims(ISS, AUD, NOW)
            .claim("acr", acr)
            .claim("roles", json!(roles))
            .sign();
        validation.verify(&token, keys(), now).unwrap()
    };
    let requirement = acr(&["gold"]).and_roles_all_of(["teller"]).unwrap();
    assert_eq!(
        requirement.unmet_at(&with_roles("bronze", &[]), now),
        Some(Unmet::UserAuthentication)
    );
    assert_eq!(
        requirement.unmet_at(&with_roles("gold", &[]), now),
        Some(Unmet::Role)
    );
    assert_eq!(
        requirement.unmet_at(&with_roles("gold", &["teller"]), now),
        None
    );
}

#[test]
fn both_parts_must_hold() {
    let requirement = acr(&["gold"]).and_max_age(Duration::from_secs(60)).unwrap();
    let now = at((NOW + 60) as f64);
    let both = claims(|t| t.claim("acr", "gold").claim("auth_time", NOW));
    assert_eq!(requirement.unmet_at(&both, now), None);
    let stale = claims(|t| t.claim("acr", "gold").claim("auth_time", NOW - 100));
    assert_eq!(
        requirement.unmet_at(&stale, now),
        Some(Unmet::UserAuthentication)
    );
    let weak = claims(|t| t.claim("acr", "silver").claim("auth_time", NOW));
    assert_eq!(
        requirement.unmet_at(&weak, now),
        Some(Unmet::UserAuthentication)
    );
}

#[test]
fn the_parameters_a_challenge_sends() {
    let requirement = acr(&[GOLD, SILVER, GOLD])
        .and_max_age(Duration::from_secs(300))
        .unwrap();
    // In order of preference, each once.
    assert_eq!(requirement.acr_values().collect::<Vec<_>>(), [GOLD, SILVER]);
    assert_eq!(
        requirement.to_acr_values_string(),
        format!("{GOLD} {SILVER}")
    );
    assert_eq!(requirement.max_age(), Some(Duration::from_secs(300)));
    assert!(requirement.requires_user_authentication());
    // Step-up values are never scopes.
    assert_eq!(requirement.to_scope_string(), "");
    let plain = ScopeRequirement::all_of(["read"]).unwrap();
    assert!(!plain.requires_user_authentication());
    assert_eq!(plain.to_acr_values_string(), "");
    assert_eq!(plain.max_age(), None);
    let debug = format!("{requirement:?}");
    assert!(
        debug.contains("acr_values") && debug.contains("max_age"),
        "{debug}"
    );
}

#[test]
fn bad_step_up_settings_are_refused_naming_the_setting() {
    let base = || ScopeRequirement::all_of(Vec::<&str>::new()).unwrap();
    let long = "a".repeat(MAX_ACR_VALUE_LENGTH + 1);
    for bad in [
        vec![],
        vec![""],
        vec!["gold silver"],
        vec!["gold", "a\"b"],
        vec!["a\\b"],
        vec!["tab\there"],
        vec!["café"],
        vec![long.as_str()],
    ] {
        let error = base().and_acr_values(&bad).unwrap_err();
        assert_eq!(error.setting(), Some("and_acr_values"), "{bad:?}");
    }
    assert!(
        base()
            .and_acr_values(["a".repeat(MAX_ACR_VALUE_LENGTH)])
            .is_ok()
    );
    let twice = acr(&["gold"]).and_acr_values(["silver"]).unwrap_err();
    assert_eq!(twice.setting(), Some("and_acr_values"));

    for bad in [Duration::from_millis(1500), Duration::from_millis(1)] {
        let error = base().and_max_age(bad).unwrap_err();
        assert_eq!(error.setting(), Some("and_max_age"), "{bad:?}");
    }
    let twice = max_age(5).and_max_age(Duration::from_secs(5)).unwrap_err();
    assert_eq!(twice.setting(), Some("and_max_age"));
}
