//! Access tokens shaped as real providers shape them, for testing presets.
//!
//! Each shape follows the provider's own documentation (the sources are listed per
//! provider in `docs/providers.md`): the header, the claims and typical values. Each
//! fixture grants one scope ([`Provider::scope`]) and one role ([`Provider::role`])
//! where the provider has them, so tests can require them.

use serde_json::json;

use crate::key::{SigningKey, random_id};
use crate::token::TokenBuilder;

/// A provider whose access-token shape the testkit can mint. The names are the
/// `portcullis_jwt::Preset` names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Provider {
    /// RFC 9068 as written.
    Rfc9068,
    /// Keycloak.
    Keycloak,
    /// Microsoft Entra ID, v2.0 access tokens.
    Entra,
    /// Auth0 (its default access-token profile).
    Auth0,
    /// Okta, a custom authorization server.
    Okta,
    /// Amazon Cognito user pools.
    Cognito,
    /// Spring Authorization Server.
    SpringAuthorizationServer,
    /// ZITADEL, JWT access tokens.
    Zitadel,
}

impl Provider {
    /// Every provider.
    pub const ALL: [Provider; 8] = [
        Provider::Rfc9068,
        Provider::Keycloak,
        Provider::Entra,
        Provider::Auth0,
        Provider::Okta,
        Provider::Cognito,
        Provider::SpringAuthorizationServer,
        Provider::Zitadel,
    ];

    /// The preset name (`keycloak`, `spring-authorization-server`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Provider::Rfc9068 => "rfc9068",
            Provider::Keycloak => "keycloak",
            Provider::Entra => "entra",
            Provider::Auth0 => "auth0",
            Provider::Okta => "okta",
            Provider::Cognito => "cognito",
            Provider::SpringAuthorizationServer => "spring-authorization-server",
            Provider::Zitadel => "zitadel",
        }
    }

    /// The scope the fixture grants, if the provider puts scopes in its tokens.
    pub const fn scope(self) -> Option<&'static str> {
        match self {
            Provider::Zitadel => None,
            Provider::Cognito => Some("orders-api/read"),
            Provider::Auth0 => Some("read:orders"),
            _ => Some("orders.read"),
        }
    }

    /// The role (group, permission) the fixture grants, if the provider has a roles
    /// claim by default.
    pub const fn role(self) -> Option<&'static str> {
        match self {
            Provider::Rfc9068 | Provider::SpringAuthorizationServer => None,
            Provider::Auth0 => Some("read:orders"),
            Provider::Okta => Some("Orders Readers"),
            Provider::Entra => Some("Orders.Admin"),
            _ => Some("orders-reader"),
        }
    }

    /// An access token as the provider issues it to a user, from `issuer` for
    /// `audience` (for Cognito, which has no `aud`: the app client id, `client_id`),
    /// issued at `now` (Unix seconds) and valid for five minutes.
    pub fn access_token<'k>(
        self,
        key: &'k SigningKey,
        issuer: &str,
        audience: &str,
        now: u64,
    ) -> TokenBuilder<'k> {
        let base = key
            .token()
            .claim("iss", issuer)
            .claim("iat", now)
            .claim("exp", now + 300);
        match self {
            Provider::Rfc9068 => base
                .claim("aud", audience)
                .claim("sub", "alice")
                .claim("client_id", "web-app")
                .claim("jti", random_id())
                .claim("scope", "openid orders.read"),
            Provider::Keycloak => base
                .header("typ", "JWT")
                .claim("jti", random_id())
                .claim("aud", json!([audience, "account"]))
                .claim("sub", "f1b2c3d4-0000-4000-8000-000000000001")
                .claim("typ", "Bearer")
                .claim("azp", "web-app")
                .claim("sid", random_id())
                .claim("acr", "1")
                .claim("allowed-origins", json!(["https://shop.example.com"]))
                .claim(
                    "realm_access",
                    json!({"roles": ["offline_access", "uma_authorization", "orders-reader"]}),
                )
                .claim(
                    "resource_access",
                    json!({"account": {"roles": ["manage-account", "view-profile"]}}),
                )
                .claim("scope", "openid email profile orders.read")
                .claim("email_verified", true)
                .claim("preferred_username", "alice"),
            Provider::Entra => base
                .header("typ", "JWT")
                .claim("aud", audience)
                .claim("nbf", now)
                .claim("aio", "AWQAm/8TAAAA")
                .claim("azp", "6e74172b-be56-4843-9ff4-e66a39bb12e3")
                .claim("azpacr", "0")
                .claim("name", "Alice")
                .claim("oid", "690222be-ff1a-4d56-abd1-7e4f7d38e474")
                .claim("preferred_username", "alice@contoso.com")
                .claim("rh", "0.AAAA")
                .claim("scp", "orders.read User.Read")
                .claim("roles", json!(["Orders.Admin"]))
                .claim("sid", random_id())
                .claim("sub", "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ")
                .claim("tid", "72f988bf-86f1-41af-91ab-2d7cd011db47")
                .claim("uti", "fqiBqXLPj0eQa82S-IYFAA")
                .claim("ver", "2.0"),
            Provider::Auth0 => base
                .header("typ", "JWT")
                .claim("sub", "auth0|5f7c8ec7c33c6c004bbafe82")
                .claim("aud", json!([audience, format!("{}userinfo", issuer)]))
                .claim("azp", "web-app")
                .claim("scope", "openid profile read:orders")
                .claim("permissions", json!(["read:orders"])),
            Provider::Okta => base
                .without_header("typ")
                .claim("ver", 1)
                .claim("jti", format!("AT.{}", random_id()))
                .claim("aud", audience)
                .claim("cid", "0oa1b2c3d4e5f6g7h8i9")
                .claim("uid", "00u1a2b3c4d5e6f7g8h9")
                .claim("scp", json!(["openid", "orders.read"]))
                .claim("auth_time", now)
                .claim("sub", "alice@example.com")
                .claim("groups", json!(["Everyone", "Orders Readers"])),
            Provider::Cognito => base
                .without_header("typ")
                .claim("sub", "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")
                .claim("cognito:groups", json!(["orders-reader"]))
                .claim("version", 2)
                .claim("client_id", audience)
                .claim("origin_jti", random_id())
                .claim("event_id", random_id())
                .claim("token_use", "access")
                .claim("scope", "openid orders-api/read")
                .claim("auth_time", now)
                .claim("jti", random_id())
                .claim("username", "alice"),
            Provider::SpringAuthorizationServer => base
                .without_header("typ")
                .claim("sub", "alice")
                .claim("aud", audience)
                .claim("nbf", now)
                .claim("scope", json!(["openid", "orders.read"]))
                .claim("jti", random_id()),
            Provider::Zitadel => base
                .without_header("typ")
                .claim("sub", "164849683489734565")
                .claim("aud", json!([audience, "164849683489734566"]))
                .claim("nbf", now)
                .claim("jti", random_id())
                .claim("azp", "164849683489734567@shop")
                .claim(
                    "urn:zitadel:iam:org:project:roles",
                    json!({"orders-reader": {"164849683489734568": "acme.zitadel.cloud"}}),
                ),
        }
    }
}
