//! Minting tokens, well-formed or deliberately not.

use serde_json::{Map, Value};

use crate::key::{SigningKey, base64_url, random_id};

/// Builds and signs one token. Start with [`SigningKey::token`].
#[derive(Debug, Clone)]
#[must_use]
pub struct TokenBuilder<'k> {
    key: &'k SigningKey,
    header: Map<String, Value>,
    claims: Map<String, Value>,
}

impl<'k> TokenBuilder<'k> {
    pub(crate) fn new(key: &'k SigningKey) -> TokenBuilder<'k> {
        let mut header = Map::new();
        header.insert("alg".into(), key.algorithm().name().into());
        header.insert("typ".into(), "at+jwt".into());
        header.insert("kid".into(), key.kid().into());
        TokenBuilder {
            key,
            header,
            claims: Map::new(),
        }
    }

    /// The RFC 9068 claims of a valid access token issued at `now` (Unix seconds):
    /// `iss`, `aud`, `sub`, `client_id`, `iat`, `exp` (`now + 300`) and a random `jti`.
    pub fn standard_claims(self, issuer: &str, audience: &str, now: u64) -> Self {
        self.claim("iss", issuer)
            .claim("aud", audience)
            .claim("sub", "test-subject")
            .claim("client_id", "test-client")
            .claim("iat", now)
            .claim("exp", now + 300)
            .claim("jti", random_id())
    }

    /// Sets a header member (`alg` and `kid` included: lie as you like).
    pub fn header(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.header.insert(name.into(), value.into());
        self
    }

    /// Removes a header member.
    pub fn without_header(mut self, name: &str) -> Self {
        self.header.remove(name);
        self
    }

    /// Sets a claim.
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.claims.insert(name.into(), value.into());
        self
    }

    /// Removes a claim.
    pub fn without_claim(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// The header as it stands.
    pub fn header_json(&self) -> String {
        Value::Object(self.header.clone()).to_string()
    }

    /// The claims as they stand.
    pub fn claims_json(&self) -> String {
        Value::Object(self.claims.clone()).to_string()
    }

    /// Signs and returns the compact serialization.
    pub fn sign(&self) -> String {
        encode_compact(self.key, &self.header_json(), &self.claims_json())
    }
}

/// Signs arbitrary header and payload text (duplicate members, wrong types, not JSON at
/// all) and returns `BASE64URL(header).BASE64URL(payload).BASE64URL(signature)`.
pub fn encode_compact(key: &SigningKey, header: &str, payload: &str) -> String {
    let signing_input = format!(
        "{}.{}",
        base64_url(header.as_bytes()),
        base64_url(payload.as_bytes())
    );
    let signature = key.sign_raw(signing_input.as_bytes());
    format!("{signing_input}.{}", base64_url(&signature))
}
