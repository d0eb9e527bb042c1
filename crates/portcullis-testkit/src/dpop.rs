//! Minting DPoP proofs (RFC 9449 §4.2), well-formed or deliberately not.

use crate::key::{SigningKey, base64_url, random_id};
use crate::token::TokenBuilder;

impl SigningKey {
    /// A DPoP proof for `method` and `uri`, made at `now` (Unix seconds): header `typ`
    /// `dpop+jwt`, this key's `alg` and its public `jwk` (no `kid`); claims a random
    /// `jti`, `htm`, `htu` and `iat`. Add `ath` with [`TokenBuilder::claim`] and
    /// [`access_token_hash`], and change anything else to make a bad proof.
    pub fn dpop_proof(&self, method: &str, uri: &str, now: u64) -> TokenBuilder<'_> {
        self.token()
            .header("typ", "dpop+jwt")
            .without_header("kid")
            .header("jwk", serde_json::Value::Object(self.bare_public_jwk()))
            .claim("jti", random_id())
            .claim("htm", method)
            .claim("htu", uri)
            .claim("iat", now)
    }
}

/// A DPoP proof's `ath` for `access_token`: base64url of its SHA-256 (RFC 9449 §4.2).
pub fn access_token_hash(access_token: &str) -> String {
    base64_url(&openssl::sha::sha256(access_token.as_bytes()))
}
