//! Presets against tokens shaped as each provider documents them (minted by the
//! testkit, through josekit): what each accepts and refuses, that none weakens the
//! signature, algorithm, issuer, audience or expiry rules, and that no claim removed or
//! retyped makes verification or reading roles and scopes panic.

#![allow(clippy::unwrap_used)]

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portcullis_jwt::{
    AlgorithmSet, AudienceClaim, ClaimPath, Claims, ErrorKind, KeySet, Preset, ScopeRequirement,
    Unmet, Validation, ValidationBuilder,
};
use portcullis_testkit::{Provider, SigningAlgorithm, SigningKey, TokenBuilder, jwks};
use proptest::prelude::*;
use serde_json::{Value, json};

const ISS: &str = "https://issuer.test/";
const AUD: &str = "orders-api";
const NOW: u64 = 1_700_000_000;

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW + 10)
}

fn key() -> &'static SigningKey {
    static KEY: OnceLock<SigningKey> = OnceLock::new();
    KEY.get_or_init(|| SigningKey::generate(SigningAlgorithm::RS256))
}

fn keys() -> &'static KeySet {
    static KEYS: OnceLock<KeySet> = OnceLock::new();
    KEYS.get_or_init(|| KeySet::from_jwks(jwks([key()]).to_string().as_bytes()).unwrap())
}

fn preset(provider: Provider) -> Preset {
    Preset::from_name(provider.name()).unwrap()
}

fn builder(provider: Provider) -> ValidationBuilder {
    preset(provider).builder().issuer(ISS).audience(AUD)
}

fn validation(provider: Provider) -> Validation {
    builder(provider).build().unwrap()
}

fn fixture(provider: Provider) -> TokenBuilder<'static> {
    provider.access_token(key(), ISS, AUD, NOW)
}

fn verify(
    validation: &Validation,
    token: &TokenBuilder<'_>,
) -> Result<Claims, (ErrorKind, String)> {
    validation
        .verify(&token.sign(), keys(), now())
        .map_err(|e| (e.kind(), e.detail().unwrap_or_default().to_owned()))
}

fn refused(validation: &Validation, token: &TokenBuilder<'_>) -> (ErrorKind, String) {
    verify(validation, token).map(|_| ()).unwrap_err()
}

/// `(kind, detail)` of a refusal.
fn why(kind: ErrorKind, detail: &str) -> (ErrorKind, String) {
    (kind, detail.to_owned())
}

fn claim_names(token: &TokenBuilder<'_>) -> Vec<String> {
    let claims: serde_json::Map<String, Value> =
        serde_json::from_str(&token.claims_json()).unwrap();
    claims.keys().cloned().collect()
}

#[test]
fn every_preset_accepts_its_providers_token_with_scopes_and_roles() {
    for provider in Provider::ALL {
        let claims = verify(&validation(provider), &fixture(provider))
            .unwrap_or_else(|e| panic!("{}: {e:?}", provider.name()));
        if let Some(scope) = provider.scope() {
            assert!(claims.scopes().contains(scope), "{}", provider.name());
        }
        let roles: Vec<&str> = claims.roles().collect();
        match provider.role() {
            Some(role) => assert!(roles.contains(&role), "{}: {roles:?}", provider.name()),
            None => assert!(roles.is_empty(), "{}: {roles:?}", provider.name()),
        }
        assert_eq!(
            claims.roles_claim().map(ClaimPath::as_str),
            validation(provider).roles_claim().map(ClaimPath::as_str)
        );
    }
}

#[test]
fn the_default_preset_refuses_every_other_providers_shape() {
    // RFC 9068 as written: none of the others types its tokens `at+jwt` with all of
    // `sub`, `client_id`, `iat` and `jti`.
    let strict = validation(Provider::Rfc9068);
    for provider in Provider::ALL.into_iter().skip(1) {
        assert!(
            verify(&strict, &fixture(provider)).is_err(),
            "{}",
            provider.name()
        );
    }
}

/// The rules no preset relaxes, for every preset: a different issuer, another
/// audience, an expired token, a bad signature, an algorithm outside the allow-list,
/// a token typed as something else, an ID token.
#[test]
fn no_preset_weakens_the_core_rules() {
    let other = SigningKey::generate(SigningAlgorithm::RS256).with_kid(key().kid());
    for provider in Provider::ALL {
        let v = validation(provider);
        let name = provider.name();
        let audience = match provider {
            Provider::Cognito => "client_id",
            _ => "aud",
        };
        let cases: Vec<(&str, TokenBuilder<'_>, ErrorKind)> = vec![
            (
                "issuer",
                fixture(provider).claim("iss", "https://evil.test/"),
                ErrorKind::InvalidIssuer,
            ),
            (
                "no issuer",
                fixture(provider).without_claim("iss"),
                ErrorKind::InvalidIssuer,
            ),
            (
                "audience",
                fixture(provider).claim(audience, "billing-api"),
                ErrorKind::InvalidAudience,
            ),
            (
                "no audience",
                fixture(provider).without_claim(audience),
                ErrorKind::InvalidAudience,
            ),
            (
                "expired",
                fixture(provider).claim("exp", NOW - 100),
                ErrorKind::Expired,
            ),
            (
                "no exp",
                fixture(provider).without_claim("exp"),
                ErrorKind::MissingClaim,
            ),
            (
                "typ",
                fixture(provider).header("typ", "id+jwt"),
                ErrorKind::InvalidType,
            ),
        ];
        for (case, token, kind) in cases {
            assert_eq!(refused(&v, &token).0, kind, "{name}: {case}");
        }
        // Signed by another key with the same kid.
        let forged = provider.access_token(&other, ISS, AUD, NOW);
        assert_eq!(
            refused(&v, &forged).0,
            ErrorKind::InvalidSignature,
            "{name}"
        );
        // The allow-list is the application's, whatever the preset.
        let es_only = builder(provider)
            .algorithms(AlgorithmSet::from_iter([portcullis_jwt::Algorithm::ES256]))
            .build()
            .unwrap();
        assert_eq!(
            refused(&es_only, &fixture(provider)).0,
            ErrorKind::AlgorithmNotAllowed,
            "{name}"
        );
        // An ID token (a `nonce`) typed anything but `at+jwt` is refused.
        if provider != Provider::Rfc9068 {
            let id_token = fixture(provider)
                .header("typ", "JWT")
                .claim("nonce", "n-0S6_WzA2Mj");
            assert_eq!(refused(&v, &id_token).0, ErrorKind::IdToken, "{name}");
        }
        // A preset needs an issuer and an audience like any configuration.
        let missing = preset(provider)
            .builder()
            .audience(AUD)
            .build()
            .unwrap_err();
        assert_eq!(missing.setting(), Some("issuer"), "{name}");
        let missing = preset(provider).builder().issuer(ISS).build().unwrap_err();
        assert_eq!(missing.setting(), Some("audience"), "{name}");
    }
}

#[test]
fn keycloak() {
    let v = validation(Provider::Keycloak);
    let token = || fixture(Provider::Keycloak);
    // Accepted: a DPoP-bound token, typed so in the payload.
    verify(&v, &token().claim("typ", "DPoP")).unwrap();
    // Refused: Keycloak's ID and refresh tokens, by their `typ` claim; the default
    // audience `account` alone; no `azp`.
    for (variant, expected) in [
        (
            token().claim("typ", "ID"),
            why(ErrorKind::InvalidClaim, "typ"),
        ),
        (
            token().claim("typ", "Refresh"),
            why(ErrorKind::InvalidClaim, "typ"),
        ),
        (
            token().without_claim("typ"),
            why(ErrorKind::MissingClaim, "typ"),
        ),
        (
            token().claim("aud", "account"),
            why(ErrorKind::InvalidAudience, "aud"),
        ),
        (
            token().without_claim("azp"),
            why(ErrorKind::MissingClaim, "azp"),
        ),
        (
            token().without_claim("jti"),
            why(ErrorKind::MissingClaim, "jti"),
        ),
    ] {
        assert_eq!(refused(&v, &variant), expected);
    }
    // The client's roles instead of the realm's, by overriding the roles claim.
    let client_roles = builder(Provider::Keycloak)
        .roles_claim("/resource_access/account/roles")
        .build()
        .unwrap();
    let claims = verify(&client_roles, &token()).unwrap();
    assert!(claims.has_role("view-profile"));
    assert!(!claims.has_role("orders-reader"));
    // A role missing from the token is a route's concern, not a refusal of the token.
    let claims = verify(&v, &token().claim("realm_access", json!({"roles": []}))).unwrap();
    assert_eq!(claims.roles().count(), 0);
}

#[test]
fn entra_v2_and_v1() {
    let v = validation(Provider::Entra);
    let token = || fixture(Provider::Entra);
    let claims = verify(&v, &token()).unwrap();
    assert!(claims.scopes().contains("User.Read"));
    for (variant, expected) in [
        (
            token().claim("ver", "1.0"),
            why(ErrorKind::InvalidClaim, "ver"),
        ),
        (token().claim("ver", 2), why(ErrorKind::InvalidClaim, "ver")),
        (
            token().without_claim("tid"),
            why(ErrorKind::MissingClaim, "tid"),
        ),
        (
            token().without_claim("oid"),
            why(ErrorKind::MissingClaim, "oid"),
        ),
        (
            token().without_claim("azp"),
            why(ErrorKind::MissingClaim, "azp"),
        ),
        // `scp` must be a scope list (a string or strings).
        (token().claim("scp", 7), why(ErrorKind::InvalidClaim, "scp")),
    ] {
        assert_eq!(refused(&v, &variant), expected);
    }
    // Tokens without `oid` and `tid` (docs/providers.md's override): `ver` is still
    // required, and so are `sub` and `azp`.
    let lenient = builder(Provider::Entra)
        .clear_required_claims()
        .require_claim("sub")
        .require_claim("azp")
        .require_claim_value("ver", "2.0")
        .build()
        .unwrap();
    verify(&lenient, &token().without_claim("oid").without_claim("tid")).unwrap();
    for (variant, expected) in [
        (
            token().claim("ver", "1.0"),
            why(ErrorKind::InvalidClaim, "ver"),
        ),
        (
            token().without_claim("azp"),
            why(ErrorKind::MissingClaim, "azp"),
        ),
    ] {
        assert_eq!(refused(&lenient, &variant), expected);
    }
    // v1.0 tokens, as docs/providers.md configures them: `appid` for `azp`, the v1
    // issuer and an `api://` audience.
    let v1 = Preset::Entra
        .builder()
        .clear_required_claims()
        .require_claim_value("ver", "1.0")
        .require_claim("appid")
        .require_claim("tid")
        .require_claim("oid")
        .issuer("https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/")
        .audience("api://orders")
        .build()
        .unwrap();
    let v1_token = token()
        .claim("ver", "1.0")
        .claim(
            "iss",
            "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/",
        )
        .claim("aud", "api://orders")
        .without_claim("azp")
        .claim("appid", "6e74172b-be56-4843-9ff4-e66a39bb12e3");
    verify(&v1, &v1_token).unwrap();
    assert_eq!(refused(&v, &v1_token).0, ErrorKind::InvalidIssuer);
}

#[test]
fn auth0() {
    let v = validation(Provider::Auth0);
    let token = || fixture(Provider::Auth0);
    // The RFC 9068 profile of Auth0 types its tokens `at+jwt`: accepted too.
    verify(
        &v,
        &token()
            .header("typ", "at+jwt")
            .claim("client_id", "web-app"),
    )
    .unwrap();
    // An issuer without its trailing slash is another issuer.
    assert_eq!(
        refused(&v, &token().claim("iss", ISS.trim_end_matches('/'))).0,
        ErrorKind::InvalidIssuer
    );
    assert_eq!(
        refused(&v, &token().without_claim("sub")),
        why(ErrorKind::MissingClaim, "sub")
    );
    // Permissions that are not strings grant no role, and refuse nothing.
    let claims = verify(&v, &token().claim("permissions", json!(["read:orders", 1]))).unwrap();
    assert_eq!(claims.roles().count(), 0);
}

#[test]
fn okta() {
    let v = validation(Provider::Okta);
    let token = || fixture(Provider::Okta);
    let claims = verify(&v, &token()).unwrap();
    assert!(claims.scopes().contains("openid"));
    assert!(claims.has_role("Everyone"));
    for (variant, expected) in [
        (
            token().without_claim("cid"),
            why(ErrorKind::MissingClaim, "cid"),
        ),
        (
            token().without_claim("jti"),
            why(ErrorKind::MissingClaim, "jti"),
        ),
        (
            token().claim("scp", json!(["a", 1])),
            why(ErrorKind::InvalidClaim, "scp"),
        ),
    ] {
        assert_eq!(refused(&v, &variant), expected);
    }
}

#[test]
fn cognito_checks_client_id_instead_of_aud() {
    let v = validation(Provider::Cognito);
    assert_eq!(v.audience_claim(), AudienceClaim::ClientId);
    let token = || fixture(Provider::Cognito);
    let claims = verify(&v, &token()).unwrap();
    assert_eq!(claims.accepted_audiences().collect::<Vec<_>>(), [AUD]);
    for (variant, expected) in [
        (
            token().claim("client_id", "other-app"),
            why(ErrorKind::InvalidAudience, "client_id"),
        ),
        (
            token().without_claim("client_id"),
            why(ErrorKind::InvalidAudience, "client_id"),
        ),
        // An `aud` naming the client does not stand in for `client_id`.
        (
            token().without_claim("client_id").claim("aud", AUD),
            why(ErrorKind::InvalidAudience, "client_id"),
        ),
        (
            token().claim("token_use", "id"),
            why(ErrorKind::InvalidClaim, "token_use"),
        ),
        (
            token().without_claim("token_use"),
            why(ErrorKind::MissingClaim, "token_use"),
        ),
    ] {
        assert_eq!(refused(&v, &variant), expected);
    }
    // A Cognito ID token: `aud` is the client, no `client_id`, `token_use: id`.
    let id_token = token()
        .without_claim("client_id")
        .without_claim("scope")
        .claim("aud", AUD)
        .claim("token_use", "id")
        .claim("email", "alice@example.com");
    assert_eq!(refused(&v, &id_token).0, ErrorKind::InvalidAudience);
    // Putting the `aud` rule back is explicit, and then a Cognito access token fails it.
    let aud = builder(Provider::Cognito)
        .audience_claim(AudienceClaim::Aud)
        .build()
        .unwrap();
    assert_eq!(
        refused(&aud, &token()),
        why(ErrorKind::InvalidAudience, "aud")
    );
}

#[test]
fn spring_authorization_server_sends_scope_arrays() {
    let v = validation(Provider::SpringAuthorizationServer);
    let token = || fixture(Provider::SpringAuthorizationServer);
    assert!(verify(&v, &token()).unwrap().scopes().contains("openid"));
    // The array switch is the preset's; it can be turned back off.
    let strings_only = builder(Provider::SpringAuthorizationServer)
        .allow_scope_array(false)
        .build()
        .unwrap();
    assert_eq!(
        refused(&strings_only, &token()),
        why(ErrorKind::InvalidClaim, "scope")
    );
    // No roles claim unless one is configured.
    let roles = builder(Provider::SpringAuthorizationServer)
        .roles_claim("roles")
        .build()
        .unwrap();
    let claims = verify(&roles, &token().claim("roles", json!(["admin"]))).unwrap();
    assert!(claims.has_role("admin"));
}

#[test]
fn zitadel_roles_are_the_names_of_an_object() {
    let v = validation(Provider::Zitadel);
    let token = || fixture(Provider::Zitadel);
    let claims = verify(&v, &token()).unwrap();
    assert_eq!(claims.roles().collect::<Vec<_>>(), ["orders-reader"]);
    assert_eq!(
        claims
            .pointer("/urn:zitadel:iam:org:project:roles/orders-reader/164849683489734568")
            .and_then(Value::as_str),
        Some("acme.zitadel.cloud")
    );
    assert_eq!(
        refused(&v, &token().without_claim("sub")),
        why(ErrorKind::MissingClaim, "sub")
    );
}

#[test]
fn a_preset_is_overridden_setting_by_setting() {
    let v = Preset::Keycloak
        .builder()
        .require_access_token_type(true)
        .issuer(ISS)
        .audience(AUD)
        .build()
        .unwrap();
    assert_eq!(v.preset(), Preset::Keycloak);
    assert_eq!(
        refused(&v, &fixture(Provider::Keycloak)).0,
        ErrorKind::InvalidType
    );
    let cleared = builder(Provider::Keycloak)
        .clear_required_claims()
        .without_roles_claim()
        .build()
        .unwrap();
    let claims = verify(
        &cleared,
        &fixture(Provider::Keycloak)
            .claim("typ", "ID")
            .without_claim("azp"),
    )
    .unwrap();
    assert_eq!(claims.roles().count(), 0);
    // A later preset replaces the shape settings of an earlier one.
    let v = builder(Provider::Cognito)
        .preset(Preset::Keycloak)
        .build()
        .unwrap();
    assert_eq!(v.audience_claim(), AudienceClaim::Aud);
    // A bad roles claim is refused when built, naming the setting.
    let error = builder(Provider::Keycloak)
        .roles_claim("/a~2")
        .build()
        .unwrap_err();
    assert_eq!(error.setting(), Some("roles_claim"));
}

#[test]
fn requirements_on_roles_and_audiences() {
    let claims = verify(
        &validation(Provider::Keycloak),
        &fixture(Provider::Keycloak),
    )
    .unwrap();
    let scopes = || ScopeRequirement::all_of(["orders.read"]).unwrap();
    let cases = [
        (scopes(), None),
        (
            scopes()
                .and_roles_any_of(["admin", "orders-reader"])
                .unwrap(),
            None,
        ),
        (
            scopes()
                .and_roles_all_of(["orders-reader", "offline_access"])
                .unwrap(),
            None,
        ),
        (
            scopes()
                .and_roles_all_of(["orders-reader", "admin"])
                .unwrap(),
            Some(Unmet::Role),
        ),
        (
            scopes().and_roles_any_of(["admin"]).unwrap(),
            Some(Unmet::Role),
        ),
        (scopes().and_audience_any_of([AUD]).unwrap(), None),
        (scopes().and_audience_any_of(["account"]).unwrap(), None),
        (
            scopes().and_audience_any_of(["billing-api"]).unwrap(),
            Some(Unmet::Audience),
        ),
        (
            ScopeRequirement::all_of(["admin"])
                .unwrap()
                .and_roles_any_of(["admin"])
                .unwrap(),
            Some(Unmet::Scope),
        ),
    ];
    for (requirement, expected) in cases {
        assert_eq!(requirement.unmet(&claims), expected, "{requirement:?}");
    }
    // Roles are never part of the `scope` challenge parameter.
    let both = scopes().and_roles_any_of(["admin"]).unwrap();
    assert_eq!(both.to_scope_string(), "orders.read");
    assert!(scopes().and_roles_any_of(Vec::<&str>::new()).is_err());
    assert!(scopes().and_roles_all_of(["bad\nrole"]).is_err());
    assert!(scopes().and_audience_any_of([""]).is_err());
}

#[test]
fn every_claim_of_every_fixture_removed_one_at_a_time() {
    for provider in Provider::ALL {
        let v = validation(provider);
        let requirement = ScopeRequirement::all_of(provider.scope())
            .unwrap()
            .and_roles_any_of(provider.role().into_iter().chain(["x"]))
            .unwrap();
        for claim in claim_names(&fixture(provider)) {
            match verify(&v, &fixture(provider).without_claim(&claim)) {
                Ok(claims) => {
                    let _ = requirement.unmet(&claims);
                    let _ = claims.roles().count();
                }
                Err((kind, _)) => {
                    assert_ne!(kind, ErrorKind::Malformed, "{}: {claim}", provider.name())
                }
            }
        }
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[ -~]{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-z:/~]{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    /// Any claim of any fixture replaced by any JSON value, or removed: an answer, never
    /// a panic, and roles, scopes and pointers read without one.
    #[test]
    fn any_claim_retyped_or_removed_is_an_answer(
        provider in prop::sample::select(Provider::ALL.to_vec()),
        index in any::<prop::sample::Index>(),
        value in prop::option::of(json_value()),
        pointer in "(/[a-z:~01]{0,5}){0,4}",
    ) {
        let names = claim_names(&fixture(provider));
        let claim = index.get(&names);
        let token = match value {
            Some(value) => fixture(provider).claim(claim, value),
            None => fixture(provider).without_claim(claim),
        };
        if let Ok(claims) = verify(&validation(provider), &token) {
            let _ = claims.roles().count();
            let _ = claims.scopes().len();
            let _ = claims.pointer(&pointer);
            let _ = claims.accepted_audiences().count();
        }
    }
}
