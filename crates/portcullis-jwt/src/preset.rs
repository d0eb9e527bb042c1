//! Starting points for the token shapes real issuers send.
//!
//! Each provider's section in
//! [`docs/providers.md`](https://github.com/portcullis-rs/portcullis/blob/main/docs/providers.md)
//! gives the provider's own documentation as the source of each setting, how the
//! provider must be configured, and the known traps.

use std::fmt;

use crate::validation::{AudienceClaim, ScopeClaim, Validation, ValidationBuilder};

/// A provider's access-token shape, as a [`Validation`] starting point: the `typ`
/// rule, where scopes and roles are read, the claims required, and which claim holds
/// the audience.
///
/// ```
/// use portcullis_jwt::{Preset, Validation};
///
/// let validation = Validation::builder()
///     .preset(Preset::Keycloak)
///     .issuer("https://sso.example.com/realms/shop")
///     .audience("orders-api")
///     // Any setting after the preset overrides it: here the client's roles instead
///     // of the realm's.
///     .roles_claim("/resource_access/orders-api/roles")
///     .build()?;
/// assert_eq!(validation.roles_claim().unwrap().as_str(), "/resource_access/orders-api/roles");
/// # Ok::<(), portcullis_jwt::ConfigError>(())
/// ```
///
/// A preset never sets the issuer, the audiences, the algorithms, the leeway or
/// anything about keys, so it cannot weaken them; a [`Validation`] still needs an
/// issuer and an audience. Where a provider's tokens carry no `typ: at+jwt`, its preset
/// relaxes the RFC 9068 profile as [`ValidationBuilder::require_access_token_type`]
/// says (a token typed anything but `at+jwt`, `JWT` or nothing is still refused, and so
/// is anything that looks like an ID token) and requires the claims that tell the
/// provider's access tokens apart instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Preset {
    /// RFC 9068 as written, the builder's own defaults: `typ: at+jwt`; `sub`,
    /// `client_id`, `iat`, `jti` required; scopes from `scope` (a string), else `scp`;
    /// no roles claim. The default.
    #[default]
    Rfc9068,
    /// Keycloak: header `typ: JWT`; the claim `typ` must be `Bearer` (or `DPoP` for a
    /// DPoP-bound token; Keycloak's ID and refresh tokens say `ID` and `Refresh`);
    /// `azp`, `iat` and `jti` required; scopes from `scope`; roles from
    /// `/realm_access/roles`.
    Keycloak,
    /// Microsoft Entra ID, v2.0 access tokens: header `typ: JWT`; `ver` must be `2.0`;
    /// `sub`, `oid`, `tid` and `azp` required; scopes from `scp` (a space-delimited
    /// string); roles (app roles) from `/roles`. For v1.0 tokens, see
    /// `docs/providers.md`: `ver` `1.0` and `appid` instead of `azp`.
    Entra,
    /// Auth0: either access-token profile (header `typ: JWT`, or `at+jwt` with the
    /// RFC 9068 profile); `sub` and `iat` required; scopes from `scope`; roles (RBAC
    /// permissions) from `/permissions`.
    Auth0,
    /// Okta, custom authorization servers: no `typ` required; `sub`, `cid` and `jti`
    /// required; scopes from `scp` (an array); roles from `/groups` (a groups claim the
    /// authorization server must be configured to add).
    Okta,
    /// Amazon Cognito user pools: no `typ` required; `token_use` must be `access`;
    /// `sub`, `iat` and `jti` required; scopes from `scope`; roles from
    /// `/cognito:groups`. Cognito access tokens carry `client_id` and no `aud`, so the
    /// audience rule reads `client_id` ([`AudienceClaim::ClientId`]): the configured
    /// audiences are the accepted app client ids.
    Cognito,
    /// Spring Authorization Server: no `typ` required; `sub`, `iat` and `jti`
    /// required; scopes from `scope`, which it sends as an array of strings; no roles
    /// claim (it adds none unless a token customizer does: set
    /// [`ValidationBuilder::roles_claim`]).
    SpringAuthorizationServer,
    /// ZITADEL (JWT access tokens): no `typ` required; `sub` and `jti` required; scopes
    /// from `scope`; roles from the member names of
    /// `/urn:zitadel:iam:org:project:roles`.
    Zitadel,
}

impl Preset {
    /// Every preset, the default first.
    pub const ALL: [Preset; 8] = [
        Preset::Rfc9068,
        Preset::Keycloak,
        Preset::Entra,
        Preset::Auth0,
        Preset::Okta,
        Preset::Cognito,
        Preset::SpringAuthorizationServer,
        Preset::Zitadel,
    ];

    /// The preset's name in configuration files: `rfc9068`, `keycloak`, `entra`,
    /// `auth0`, `okta`, `cognito`, `spring-authorization-server`, `zitadel`.
    pub const fn name(self) -> &'static str {
        match self {
            Preset::Rfc9068 => "rfc9068",
            Preset::Keycloak => "keycloak",
            Preset::Entra => "entra",
            Preset::Auth0 => "auth0",
            Preset::Okta => "okta",
            Preset::Cognito => "cognito",
            Preset::SpringAuthorizationServer => "spring-authorization-server",
            Preset::Zitadel => "zitadel",
        }
    }

    /// The preset named `name` ([`Preset::name`]), exactly.
    pub fn from_name(name: &str) -> Option<Preset> {
        Preset::ALL.into_iter().find(|preset| preset.name() == name)
    }

    /// A builder starting from this preset: `Validation::builder().preset(self)`.
    pub fn builder(self) -> ValidationBuilder {
        Validation::builder().preset(self)
    }

    /// Sets what the preset sets, through the builder's public settings only, so each
    /// can be overridden by calling it again.
    pub(crate) fn apply(self, builder: ValidationBuilder) -> ValidationBuilder {
        // Every preset sets all five shape settings, so presets do not mix.
        let builder = builder
            .require_access_token_type(self == Preset::Rfc9068)
            .scope_claim(ScopeClaim::ScopeOrScp)
            .allow_scope_array(self == Preset::SpringAuthorizationServer)
            .audience_claim(if self == Preset::Cognito {
                AudienceClaim::ClientId
            } else {
                AudienceClaim::Aud
            });
        let builder = match self.roles_claim() {
            Some(path) => builder.roles_claim(path),
            None => builder.without_roles_claim(),
        };
        let builder = self
            .required_claims()
            .iter()
            .fold(builder, |b, claim| b.require_claim(*claim));
        self.claim_values()
            .iter()
            .fold(builder, |b, (name, value)| {
                b.require_claim_value(*name, *value)
            })
    }

    fn roles_claim(self) -> Option<&'static str> {
        match self {
            Preset::Rfc9068 | Preset::SpringAuthorizationServer => None,
            Preset::Keycloak => Some("/realm_access/roles"),
            Preset::Entra => Some("/roles"),
            Preset::Auth0 => Some("/permissions"),
            Preset::Okta => Some("/groups"),
            Preset::Cognito => Some("/cognito:groups"),
            Preset::Zitadel => Some("/urn:zitadel:iam:org:project:roles"),
        }
    }

    /// Beyond `exp` (always) and, for [`Preset::Rfc9068`], the profile's own.
    fn required_claims(self) -> &'static [&'static str] {
        match self {
            Preset::Rfc9068 => &[],
            Preset::Keycloak => &["azp", "iat", "jti"],
            Preset::Entra => &["sub", "oid", "tid", "azp"],
            Preset::Auth0 => &["sub", "iat"],
            Preset::Okta => &["sub", "cid", "jti"],
            Preset::Cognito | Preset::SpringAuthorizationServer => &["sub", "iat", "jti"],
            Preset::Zitadel => &["sub", "jti"],
        }
    }

    fn claim_values(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Preset::Keycloak => &[("typ", "Bearer"), ("typ", "DPoP")],
            Preset::Entra => &[("ver", "2.0")],
            Preset::Cognito => &[("token_use", "access")],
            _ => &[],
        }
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Preset {
    type Err = crate::ConfigError;
    fn from_str(name: &str) -> Result<Preset, crate::ConfigError> {
        Preset::from_name(name).ok_or_else(|| {
            let names: Vec<&str> = Preset::ALL.iter().map(|p| p.name()).collect();
            crate::ConfigError::for_setting(
                "preset",
                format!("{name:?}: expected one of {}", names.join(", ")),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for preset in Preset::ALL {
            assert_eq!(Preset::from_name(preset.name()), Some(preset));
            assert_eq!(preset.name().parse::<Preset>(), Ok(preset));
            assert_eq!(preset.to_string(), preset.name());
        }
        assert_eq!(Preset::from_name("Keycloak"), None);
        let error = "azure".parse::<Preset>().unwrap_err();
        assert_eq!(error.setting(), Some("preset"));
        assert!(error.message().contains("keycloak"), "{error}");
    }
}
