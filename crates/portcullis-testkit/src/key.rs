//! Signing keys for every algorithm, and the JWK Sets that publish them.

use std::fmt;
use std::sync::OnceLock;

use josekit::jwk::Jwk;
use josekit::jwk::KeyPair as _;
use josekit::jwk::alg::ed::EdCurve;
use josekit::jws::{self, JwsSigner};
use serde_json::{Map, Value};

use crate::token::TokenBuilder;

/// The JWS algorithms the testkit signs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(missing_docs)]
pub enum SigningAlgorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    ES512,
    /// EdDSA with an Ed25519 key.
    EdDSA,
    /// The fully specified name for EdDSA with Ed25519 (RFC 9864).
    Ed25519,
    HS256,
    HS384,
    HS512,
}

impl SigningAlgorithm {
    /// Every algorithm.
    pub const ALL: [SigningAlgorithm; 14] = [
        SigningAlgorithm::RS256,
        SigningAlgorithm::RS384,
        SigningAlgorithm::RS512,
        SigningAlgorithm::PS256,
        SigningAlgorithm::PS384,
        SigningAlgorithm::PS512,
        SigningAlgorithm::ES256,
        SigningAlgorithm::ES384,
        SigningAlgorithm::ES512,
        SigningAlgorithm::EdDSA,
        SigningAlgorithm::Ed25519,
        SigningAlgorithm::HS256,
        SigningAlgorithm::HS384,
        SigningAlgorithm::HS512,
    ];

    /// The `alg` header value.
    pub const fn name(self) -> &'static str {
        match self {
            SigningAlgorithm::RS256 => "RS256",
            SigningAlgorithm::RS384 => "RS384",
            SigningAlgorithm::RS512 => "RS512",
            SigningAlgorithm::PS256 => "PS256",
            SigningAlgorithm::PS384 => "PS384",
            SigningAlgorithm::PS512 => "PS512",
            SigningAlgorithm::ES256 => "ES256",
            SigningAlgorithm::ES384 => "ES384",
            SigningAlgorithm::ES512 => "ES512",
            SigningAlgorithm::EdDSA => "EdDSA",
            SigningAlgorithm::Ed25519 => "Ed25519",
            SigningAlgorithm::HS256 => "HS256",
            SigningAlgorithm::HS384 => "HS384",
            SigningAlgorithm::HS512 => "HS512",
        }
    }

    /// Whether this is an HMAC algorithm.
    pub const fn is_symmetric(self) -> bool {
        matches!(
            self,
            SigningAlgorithm::HS256 | SigningAlgorithm::HS384 | SigningAlgorithm::HS512
        )
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A private key that signs tokens, with its public JWK.
pub struct SigningKey {
    alg: SigningAlgorithm,
    kid: String,
    signer: Box<dyn JwsSigner>,
    /// The public JWK without `kid`, `alg` and `use`; those are added on output.
    public: Option<Map<String, Value>>,
    private: Map<String, Value>,
}

/// A random identifier: 16 random bytes, base64url.
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    openssl::rand::rand_bytes(&mut bytes).expect("the OpenSSL RNG works");
    base64_url(&bytes)
}

fn boxed<S: JwsSigner + 'static>(
    signer: Result<S, josekit::JoseError>,
) -> Result<Box<dyn JwsSigner>, String> {
    signer
        .map(|s| Box::new(s) as Box<dyn JwsSigner>)
        .map_err(|e| e.to_string())
}

pub(crate) fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl SigningKey {
    /// Generates a fresh key for `alg` with a random `kid`: RSA 2048 bits for RS*/PS*,
    /// the algorithm's curve for ES*, Ed25519 for EdDSA, a random secret of the hash
    /// size for HS*.
    ///
    /// # Panics
    /// If OpenSSL fails to generate a key, which is a broken test environment.
    pub fn generate(alg: SigningAlgorithm) -> SigningKey {
        SigningKey::try_generate(alg, 2048).expect("key generation works")
    }

    /// One key per algorithm for the whole test process, generated on first use: for
    /// tests that need a key but not a fresh one (RSA generation is slow).
    ///
    /// # Panics
    /// As [`SigningKey::generate`].
    pub fn shared(alg: SigningAlgorithm) -> &'static SigningKey {
        static KEYS: [OnceLock<SigningKey>; SigningAlgorithm::ALL.len()] =
            [const { OnceLock::new() }; SigningAlgorithm::ALL.len()];
        let index = SigningAlgorithm::ALL
            .iter()
            .position(|a| *a == alg)
            .expect("every algorithm is in ALL");
        KEYS[index].get_or_init(|| SigningKey::generate(alg))
    }

    /// Generates an RSA key of `bits` bits (1024 makes a deliberately weak key).
    ///
    /// # Panics
    /// If `alg` is not RS*/PS*, or OpenSSL refuses.
    pub fn generate_rsa(alg: SigningAlgorithm, bits: u32) -> SigningKey {
        assert!(matches!(
            alg,
            SigningAlgorithm::RS256
                | SigningAlgorithm::RS384
                | SigningAlgorithm::RS512
                | SigningAlgorithm::PS256
                | SigningAlgorithm::PS384
                | SigningAlgorithm::PS512
        ));
        SigningKey::try_generate(alg, bits).expect("key generation works")
    }

    fn try_generate(alg: SigningAlgorithm, rsa_bits: u32) -> Result<SigningKey, String> {
        let private: Jwk = match alg {
            SigningAlgorithm::RS256
            | SigningAlgorithm::RS384
            | SigningAlgorithm::RS512
            | SigningAlgorithm::PS256
            | SigningAlgorithm::PS384
            | SigningAlgorithm::PS512 => jws::RS256
                .generate_key_pair(rsa_bits)
                .map_err(|e| e.to_string())?
                .to_jwk_key_pair(),
            SigningAlgorithm::ES256 => jws::ES256
                .generate_key_pair()
                .map_err(|e| e.to_string())?
                .to_jwk_key_pair(),
            SigningAlgorithm::ES384 => jws::ES384
                .generate_key_pair()
                .map_err(|e| e.to_string())?
                .to_jwk_key_pair(),
            SigningAlgorithm::ES512 => jws::ES512
                .generate_key_pair()
                .map_err(|e| e.to_string())?
                .to_jwk_key_pair(),
            SigningAlgorithm::EdDSA | SigningAlgorithm::Ed25519 => jws::EdDSA
                .generate_key_pair(EdCurve::Ed25519)
                .map_err(|e| e.to_string())?
                .to_jwk_key_pair(),
            SigningAlgorithm::HS256 | SigningAlgorithm::HS384 | SigningAlgorithm::HS512 => {
                let len = match alg {
                    SigningAlgorithm::HS256 => 32,
                    SigningAlgorithm::HS384 => 48,
                    _ => 64,
                };
                let mut secret = vec![0u8; len];
                openssl::rand::rand_bytes(&mut secret).map_err(|e| e.to_string())?;
                return SigningKey::hmac(alg, &secret);
            }
        };
        SigningKey::from_private_jwk(alg, &Value::Object(private.as_ref().clone()))
    }

    /// An HMAC key with the given secret (any length: short secrets make negative tests).
    ///
    /// # Errors
    /// If `alg` is not HS* or josekit refuses the secret.
    pub fn hmac(alg: SigningAlgorithm, secret: &[u8]) -> Result<SigningKey, String> {
        let signer: Box<dyn JwsSigner> = match alg {
            SigningAlgorithm::HS256 => boxed(jws::HS256.signer_from_bytes(secret))?,
            SigningAlgorithm::HS384 => boxed(jws::HS384.signer_from_bytes(secret))?,
            SigningAlgorithm::HS512 => boxed(jws::HS512.signer_from_bytes(secret))?,
            other => return Err(format!("{other} is not an HMAC algorithm")),
        };
        let mut private = Map::new();
        private.insert("kty".into(), "oct".into());
        private.insert("k".into(), base64_url(secret).into());
        Ok(SigningKey {
            alg,
            kid: random_id(),
            signer,
            public: None,
            private,
        })
    }

    /// A key from a private JWK (for example an RFC test vector).
    ///
    /// # Errors
    /// If the JWK does not fit `alg`.
    pub fn from_private_jwk(alg: SigningAlgorithm, jwk: &Value) -> Result<SigningKey, String> {
        let map = jwk.as_object().ok_or("a JWK is a JSON object")?.clone();
        let mut bare = map.clone();
        for member in ["kid", "alg", "use", "key_ops"] {
            bare.remove(member);
        }
        let josekit_jwk = Jwk::from_map(bare.clone()).map_err(|e| e.to_string())?;
        let signer: Box<dyn JwsSigner> = match alg {
            SigningAlgorithm::RS256 => boxed(jws::RS256.signer_from_jwk(&josekit_jwk))?,
            SigningAlgorithm::RS384 => boxed(jws::RS384.signer_from_jwk(&josekit_jwk))?,
            SigningAlgorithm::RS512 => boxed(jws::RS512.signer_from_jwk(&josekit_jwk))?,
            SigningAlgorithm::PS256 => boxed(jws::PS256.signer_from_jwk(&josekit_jwk))?,
            SigningAlgorithm::PS384 => boxed(jws::PS384.signer_from_jwk(&josekit_jwk))?,
            SigningAlgorithm::PS512 => boxed(jws::PS512.signer_from_jwk(&josekit_jwk))?,
            SigningAlgorithm::ES256 => boxed(jws::ES256.signer_from_jwk(&josekit_jwk))?,
            SigningAlgorithm::ES384 => boxed(jws::ES384.signer_from_jwk(&josekit_jwk))?,
            SigningAlgorithm::ES512 => boxed(jws::ES512.signer_from_jwk(&josekit_jwk))?,
            SigningAlgorithm::EdDSA | SigningAlgorithm::Ed25519 => {
                boxed(jws::EdDSA.signer_from_jwk(&josekit_jwk))?
            }
            SigningAlgorithm::HS256 => boxed(jws::HS256.signer_from_jwk(&josekit_jwk))?,
            SigningAlgorithm::HS384 => boxed(jws::HS384.signer_from_jwk(&josekit_jwk))?,
            SigningAlgorithm::HS512 => boxed(jws::HS512.signer_from_jwk(&josekit_jwk))?,
        };
        let public = if alg.is_symmetric() {
            None
        } else {
            let private_members = ["d", "p", "q", "dp", "dq", "qi", "oth"];
            Some(
                bare.iter()
                    .filter(|(name, _)| !private_members.contains(&name.as_str()))
                    .map(|(n, v)| (n.clone(), v.clone()))
                    .collect(),
            )
        };
        let kid = map
            .get("kid")
            .and_then(Value::as_str)
            .map_or_else(random_id, str::to_owned);
        Ok(SigningKey {
            alg,
            kid,
            signer,
            public,
            private: bare,
        })
    }

    /// Replaces the `kid`.
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<String>) -> SigningKey {
        self.kid = kid.into();
        self
    }

    /// The `kid`.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.alg
    }

    /// The public JWK with `kid`, `alg` and `use: sig`. For HMAC keys, the secret as an
    /// `oct` JWK (which a verifier must refuse to take from a JWK Set).
    pub fn public_jwk(&self) -> Value {
        let mut jwk = self.bare_public_jwk();
        jwk.insert("kid".into(), self.kid.clone().into());
        jwk.insert("alg".into(), self.alg.name().into());
        jwk.insert("use".into(), "sig".into());
        Value::Object(jwk)
    }

    /// The public JWK with only the key material (`kty`, `n`/`e`, `crv`/`x`/`y`).
    pub fn bare_public_jwk(&self) -> Map<String, Value> {
        self.public.clone().unwrap_or_else(|| self.private.clone())
    }

    /// The private JWK (for handing the key to another implementation).
    pub fn private_jwk(&self) -> Value {
        Value::Object(self.private.clone())
    }

    /// The HMAC secret, for HS* keys.
    pub fn secret(&self) -> Option<Vec<u8>> {
        use base64::Engine as _;
        if !self.alg.is_symmetric() {
            return None;
        }
        let k = self.private.get("k")?.as_str()?;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(k)
            .ok()
    }

    /// Signs `message` (a JWS signing input) and returns the raw signature.
    ///
    /// # Panics
    /// If OpenSSL fails to sign, which is a broken test environment.
    pub fn sign_raw(&self, message: &[u8]) -> Vec<u8> {
        self.signer.sign(message).expect("signing works")
    }

    /// Starts a token signed by this key, with header `alg`, `typ: at+jwt` and `kid`.
    pub fn token(&self) -> TokenBuilder<'_> {
        TokenBuilder::new(self)
    }
}

impl fmt::Debug for SigningKey {
    /// Never prints the private key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// A JWK Set document publishing the public keys (`{"keys":[...]}`).
pub fn jwks<'k>(keys: impl IntoIterator<Item = &'k SigningKey>) -> Value {
    let keys: Vec<Value> = keys.into_iter().map(SigningKey::public_jwk).collect();
    serde_json::json!({ "keys": keys })
}
