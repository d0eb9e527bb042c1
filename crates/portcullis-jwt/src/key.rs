//! Verification keys: JWK Sets parsed once into ready verifiers.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use aws_lc_rs::signature::{self, ParsedPublicKey, RsaParameters, RsaPublicKeyComponents};
use aws_lc_rs::{digest, hmac};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use crate::algorithm::{Algorithm, AlgorithmSet, Family};
use crate::error::ConfigError;

/// The most keys one JWK Set may contribute. Further keys are skipped with a reason;
/// a real issuer publishes a handful.
pub const MAX_KEYS: usize = 256;

/// The smallest RSA modulus accepted, in bits (RFC 7518 §3.3, RFC 8725 §3.5).
pub const MIN_RSA_BITS: usize = 2048;
/// The largest RSA modulus accepted, in bits.
pub const MAX_RSA_BITS: usize = 8192;
/// The shortest HMAC secret accepted, in bytes, for HS256 (RFC 7518 §3.2: at least the
/// hash output size; HS384 and HS512 need 48 and 64).
pub const MIN_HMAC_SECRET: usize = 32;

/// One verification key, parsed and ready.
#[derive(Clone)]
pub struct Key {
    inner: Arc<KeyInner>,
}

struct KeyInner {
    kid: Option<Box<str>>,
    algorithms: AlgorithmSet,
    thumbprint: [u8; 32],
    material: Material,
}

enum Material {
    /// One parsed key per RSA algorithm the key may verify, in [`RSA_ALGORITHMS`] order.
    Rsa(Box<[Option<ParsedPublicKey>; 6]>),
    Ec(ParsedPublicKey),
    Ed25519(ParsedPublicKey),
    Hmac(Box<hmac::Key>),
}

const RSA_ALGORITHMS: [Algorithm; 6] = Algorithm::all_of_family(Family::Rsa);

fn rsa_parameters(alg: Algorithm) -> &'static RsaParameters {
    match alg {
        Algorithm::RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &signature::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &signature::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &signature::RSA_PSS_2048_8192_SHA512,
        _ => &signature::RSA_PKCS1_2048_8192_SHA256,
    }
}

impl Key {
    /// The key's `kid`, if it has one.
    pub fn kid(&self) -> Option<&str> {
        self.inner.kid.as_deref()
    }

    /// The algorithms this key may verify: its `alg` if the JWK named one, otherwise
    /// every algorithm of its type.
    pub fn algorithms(&self) -> AlgorithmSet {
        self.inner.algorithms
    }

    /// The RFC 7638 JWK thumbprint (SHA-256) of the public key: a stable identity even
    /// for keys without a `kid`. For HMAC keys, a SHA-256 of the secret's thumbprint
    /// input, which identifies but does not reveal it.
    pub fn thumbprint(&self) -> &[u8; 32] {
        &self.inner.thumbprint
    }

    /// Whether this key may verify `alg`.
    pub fn supports(&self, alg: Algorithm) -> bool {
        self.inner.algorithms.contains(alg)
    }

    /// Verifies `signature` over `message` with `alg`. False on any failure, including an
    /// algorithm this key does not support.
    pub fn verify(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> bool {
        if !self.supports(alg) {
            return false;
        }
        match &self.inner.material {
            Material::Rsa(parsed) => RSA_ALGORITHMS
                .iter()
                .position(|a| *a == alg)
                .and_then(|i| parsed[i].as_ref())
                .is_some_and(|key| key.verify_sig(message, signature).is_ok()),
            Material::Ec(key) | Material::Ed25519(key) => {
                key.verify_sig(message, signature).is_ok()
            }
            Material::Hmac(key) => hmac::verify(key, message, signature).is_ok(),
        }
    }

    /// Builds an HMAC key from a secret the application holds. Never built from a
    /// remote JWK Set.
    ///
    /// # Errors
    /// If `alg` is not an HMAC algorithm, or the secret is shorter than the hash output
    /// (32, 48 or 64 bytes).
    pub fn hmac_secret(
        kid: Option<&str>,
        alg: Algorithm,
        secret: &[u8],
    ) -> Result<Key, ConfigError> {
        let (hmac_alg, min) = match alg {
            Algorithm::HS256 => (hmac::HMAC_SHA256, 32),
            Algorithm::HS384 => (hmac::HMAC_SHA384, 48),
            Algorithm::HS512 => (hmac::HMAC_SHA512, 64),
            other => {
                return Err(ConfigError::new(format!(
                    "{other} is not an HMAC algorithm"
                )));
            }
        };
        if secret.len() < min {
            return Err(ConfigError::new(format!(
                "an {alg} secret needs at least {min} bytes, got {}",
                secret.len()
            )));
        }
        let k = URL_SAFE_NO_PAD.encode(secret);
        let thumbprint = thumbprint_of(&format!(r#"{{"k":"{k}","kty":"oct"}}"#));
        Ok(Key::new(
            kid,
            AlgorithmSet::only(alg),
            thumbprint,
            Material::Hmac(Box::new(hmac::Key::new(hmac_alg, secret))),
        ))
    }

    fn new(
        kid: Option<&str>,
        algorithms: AlgorithmSet,
        thumbprint: [u8; 32],
        material: Material,
    ) -> Key {
        Key {
            inner: Arc::new(KeyInner {
                kid: kid.map(Box::from),
                algorithms,
                thumbprint,
                material,
            }),
        }
    }

    /// Parses one public JWK. `oct` keys are refused: shared secrets come from the
    /// application ([`Key::hmac_secret`]), never from a document.
    ///
    /// # Errors
    /// The reason the key is unusable.
    pub fn from_jwk(jwk: &serde_json::Value) -> Result<Key, SkipReason> {
        // serde's derived structs also accept arrays, positionally: insist on an object.
        if !jwk.is_object() {
            return Err(SkipReason::Malformed);
        }
        let jwk = Jwk::deserialize(jwk).map_err(|_| SkipReason::Malformed)?;
        jwk.into_key()
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.inner.material {
            Material::Rsa(_) => "RSA",
            Material::Ec(_) => "EC",
            Material::Ed25519(_) => "OKP",
            Material::Hmac(_) => "oct",
        };
        f.debug_struct("Key")
            .field("kid", &self.inner.kid)
            .field("kty", &kind)
            .field("algorithms", &self.inner.algorithms)
            .finish_non_exhaustive()
    }
}

/// Why a key in a JWK Set was not loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SkipReason {
    /// The JWK is not an object of the expected shape (wrong member types).
    Malformed,
    /// `kty` is missing or not one Portcullis verifies with.
    UnsupportedKeyType,
    /// `alg` names an algorithm Portcullis does not verify (an encryption algorithm, say).
    UnsupportedAlgorithm,
    /// `alg` does not belong to the key's type or curve.
    AlgorithmMismatch,
    /// `crv` is missing or not supported.
    UnsupportedCurve,
    /// `use` is present and is not `sig`.
    NotForSignatures,
    /// `key_ops` is present and does not include `verify`.
    NotForVerification,
    /// An RSA modulus below 2048 bits.
    TooSmall,
    /// An RSA modulus above 8192 bits.
    TooLarge,
    /// A base64url member is badly encoded or the wrong length, or the key is invalid
    /// (a point not on the curve, say).
    BadEncoding,
    /// `kty` is `oct`: shared secrets are never taken from a JWK Set.
    SymmetricKey,
    /// The set already holds [`MAX_KEYS`] keys.
    TooManyKeys,
    /// Another key in the set has the same `kid` and type.
    DuplicateKid,
}

impl SkipReason {
    /// A short reason for logs.
    pub const fn description(self) -> &'static str {
        match self {
            SkipReason::Malformed => "malformed JWK",
            SkipReason::UnsupportedKeyType => "unsupported kty",
            SkipReason::UnsupportedAlgorithm => "unsupported alg",
            SkipReason::AlgorithmMismatch => "alg does not match the key type or curve",
            SkipReason::UnsupportedCurve => "unsupported crv",
            SkipReason::NotForSignatures => "use is not sig",
            SkipReason::NotForVerification => "key_ops lacks verify",
            SkipReason::TooSmall => "RSA key below 2048 bits",
            SkipReason::TooLarge => "RSA key above 8192 bits",
            SkipReason::BadEncoding => "bad key encoding",
            SkipReason::SymmetricKey => "symmetric keys are not taken from a JWK Set",
            SkipReason::TooManyKeys => "too many keys in the set",
            SkipReason::DuplicateKid => "duplicate kid",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

/// A key of a JWK Set that was not loaded, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedKey {
    /// The key's `kid`, when it had a string one.
    pub kid: Option<String>,
    /// The key's position in the set's `keys` array.
    pub index: usize,
    /// Why it was skipped.
    pub reason: SkipReason,
}

#[derive(Deserialize)]
struct Jwk<'a> {
    #[serde(borrow)]
    kty: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    kid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    alg: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "use")]
    use_: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    key_ops: Option<Vec<Cow<'a, str>>>,
    #[serde(borrow, default)]
    crv: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    n: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    e: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    x: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    y: Option<Cow<'a, str>>,
}

fn decode(member: Option<&Cow<'_, str>>) -> Result<Vec<u8>, SkipReason> {
    let text = member.ok_or(SkipReason::BadEncoding)?;
    URL_SAFE_NO_PAD
        .decode(text.as_bytes())
        .map_err(|_| SkipReason::BadEncoding)
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

fn thumbprint_of(canonical: &str) -> [u8; 32] {
    let digest = digest::digest(&digest::SHA256, canonical.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

impl Jwk<'_> {
    fn into_key(self) -> Result<Key, SkipReason> {
        let kty = self.kty.as_deref().ok_or(SkipReason::UnsupportedKeyType)?;
        let family = match kty {
            "RSA" => Family::Rsa,
            "EC" => Family::Ec,
            "OKP" => Family::Okp,
            "oct" => return Err(SkipReason::SymmetricKey),
            _ => return Err(SkipReason::UnsupportedKeyType),
        };
        if self.use_.as_ref().is_some_and(|use_| use_ != "sig") {
            return Err(SkipReason::NotForSignatures);
        }
        if self
            .key_ops
            .as_ref()
            .is_some_and(|ops| !ops.iter().any(|op| op == "verify"))
        {
            return Err(SkipReason::NotForVerification);
        }
        let named_alg = match &self.alg {
            None => None,
            Some(name) => {
                let alg = Algorithm::from_name(name).ok_or(SkipReason::UnsupportedAlgorithm)?;
                if alg.family() != family {
                    return Err(SkipReason::AlgorithmMismatch);
                }
                Some(alg)
            }
        };
        let kid = self.kid.as_deref();
        match family {
            Family::Rsa => self.rsa(kid, named_alg),
            Family::Ec => self.ec(kid, named_alg),
            _ => self.okp(kid, named_alg),
        }
    }

    fn rsa(&self, kid: Option<&str>, named_alg: Option<Algorithm>) -> Result<Key, SkipReason> {
        let n = decode(self.n.as_ref())?;
        let e = decode(self.e.as_ref())?;
        let n_min = strip_leading_zeros(&n);
        let e_min = strip_leading_zeros(&e);
        if n_min.is_empty() || e_min.is_empty() {
            return Err(SkipReason::BadEncoding);
        }
        let bits = n_min.len() * 8 - n_min[0].leading_zeros() as usize;
        if bits < MIN_RSA_BITS {
            return Err(SkipReason::TooSmall);
        }
        if bits > MAX_RSA_BITS {
            return Err(SkipReason::TooLarge);
        }
        let algorithms =
            named_alg.map_or_else(|| AlgorithmSet::of_family(Family::Rsa), AlgorithmSet::only);
        let components = RsaPublicKeyComponents { n: n_min, e: e_min };
        let mut parsed: [Option<ParsedPublicKey>; 6] = Default::default();
        for (slot, alg) in parsed.iter_mut().zip(RSA_ALGORITHMS) {
            if algorithms.contains(alg) {
                *slot = Some(
                    components
                        .to_parsed_public_key(rsa_parameters(alg))
                        .map_err(|_| SkipReason::BadEncoding)?,
                );
            }
        }
        let thumbprint = thumbprint_of(&format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            URL_SAFE_NO_PAD.encode(e_min),
            URL_SAFE_NO_PAD.encode(n_min)
        ));
        Ok(Key::new(
            kid,
            algorithms,
            thumbprint,
            Material::Rsa(Box::new(parsed)),
        ))
    }

    fn ec(&self, kid: Option<&str>, named_alg: Option<Algorithm>) -> Result<Key, SkipReason> {
        let crv = self.crv.as_deref().ok_or(SkipReason::UnsupportedCurve)?;
        let (alg, size, verification): (_, _, &'static signature::EcdsaVerificationAlgorithm) =
            match crv {
                "P-256" => (Algorithm::ES256, 32, &signature::ECDSA_P256_SHA256_FIXED),
                "P-384" => (Algorithm::ES384, 48, &signature::ECDSA_P384_SHA384_FIXED),
                "P-521" => (Algorithm::ES512, 66, &signature::ECDSA_P521_SHA512_FIXED),
                _ => return Err(SkipReason::UnsupportedCurve),
            };
        if named_alg.is_some_and(|named| named != alg) {
            return Err(SkipReason::AlgorithmMismatch);
        }
        let x = decode(self.x.as_ref())?;
        let y = decode(self.y.as_ref())?;
        if x.len() != size || y.len() != size {
            return Err(SkipReason::BadEncoding);
        }
        let mut point = Vec::with_capacity(1 + 2 * size);
        point.push(0x04);
        point.extend_from_slice(&x);
        point.extend_from_slice(&y);
        let parsed =
            ParsedPublicKey::new(verification, &point).map_err(|_| SkipReason::BadEncoding)?;
        let thumbprint = thumbprint_of(&format!(
            r#"{{"crv":"{crv}","kty":"EC","x":"{}","y":"{}"}}"#,
            URL_SAFE_NO_PAD.encode(&x),
            URL_SAFE_NO_PAD.encode(&y)
        ));
        Ok(Key::new(
            kid,
            AlgorithmSet::only(alg),
            thumbprint,
            Material::Ec(parsed),
        ))
    }

    fn okp(&self, kid: Option<&str>, named_alg: Option<Algorithm>) -> Result<Key, SkipReason> {
        if self.crv.as_deref() != Some("Ed25519") {
            return Err(SkipReason::UnsupportedCurve);
        }
        let x = decode(self.x.as_ref())?;
        if x.len() != 32 {
            return Err(SkipReason::BadEncoding);
        }
        let parsed =
            ParsedPublicKey::new(&signature::ED25519, &x).map_err(|_| SkipReason::BadEncoding)?;
        let algorithms = named_alg.map_or(
            AlgorithmSet::from([Algorithm::EdDSA, Algorithm::Ed25519]),
            AlgorithmSet::only,
        );
        let thumbprint = thumbprint_of(&format!(
            r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
            URL_SAFE_NO_PAD.encode(&x)
        ));
        Ok(Key::new(
            kid,
            algorithms,
            thumbprint,
            Material::Ed25519(parsed),
        ))
    }
}

/// A set of verification keys, each parsed once.
///
/// Built from a JWK Set document ([`KeySet::from_jwks`]) or from keys the application
/// holds. Unusable keys are skipped one by one and reported by [`KeySet::skipped`]; the
/// rest of the set stays usable. Cheap to clone.
#[derive(Clone, Default)]
pub struct KeySet {
    inner: Arc<KeySetInner>,
}

#[derive(Default)]
struct KeySetInner {
    keys: Vec<Key>,
    skipped: Vec<SkippedKey>,
}

/// A JWK Set document that is not one at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwksError(&'static str);

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for JwksError {}

impl KeySet {
    /// An empty set; it verifies nothing.
    pub fn empty() -> KeySet {
        KeySet::default()
    }

    /// Parses a JWK Set document (RFC 7517 §5): a JSON object with a `keys` array.
    ///
    /// # Errors
    /// If the document is not a JSON object with a `keys` array. Individual unusable
    /// keys are not errors: see [`KeySet::skipped`].
    pub fn from_jwks(document: &[u8]) -> Result<KeySet, JwksError> {
        #[derive(Deserialize)]
        struct Document {
            keys: Vec<serde_json::Value>,
        }
        let is_object = document
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_some_and(|b| *b == b'{');
        if !is_object {
            return Err(JwksError("not a JSON object with a \"keys\" array"));
        }
        // JSON is UTF-8 (RFC 8259 §8.1), and serde_json does not check the members it
        // skips: check the whole document first.
        let document = std::str::from_utf8(document)
            .map_err(|_| JwksError("not a JSON object with a \"keys\" array"))?;
        let document: Document = serde_json::from_str(document)
            .map_err(|_| JwksError("not a JSON object with a \"keys\" array"))?;
        let mut inner = KeySetInner::default();
        for (index, jwk) in document.keys.iter().enumerate() {
            let kid = jwk.get("kid").and_then(|k| k.as_str()).map(str::to_owned);
            let result = if inner.keys.len() >= MAX_KEYS {
                Err(SkipReason::TooManyKeys)
            } else {
                Key::from_jwk(jwk)
            };
            match result {
                Ok(key) => inner.push(key, index),
                Err(reason) => inner.skipped.push(SkippedKey { kid, index, reason }),
            }
        }
        Ok(KeySet {
            inner: Arc::new(inner),
        })
    }

    /// A set of the given keys.
    pub fn from_keys(keys: impl IntoIterator<Item = Key>) -> KeySet {
        let mut inner = KeySetInner::default();
        for (index, key) in keys.into_iter().enumerate() {
            inner.push(key, index);
        }
        KeySet {
            inner: Arc::new(inner),
        }
    }

    /// The usable keys.
    pub fn keys(&self) -> &[Key] {
        &self.inner.keys
    }

    /// The keys that were skipped, with reasons, for the caller to log.
    pub fn skipped(&self) -> &[SkippedKey] {
        &self.inner.skipped
    }

    /// The number of usable keys.
    pub fn len(&self) -> usize {
        self.inner.keys.len()
    }

    /// Whether no key is usable.
    pub fn is_empty(&self) -> bool {
        self.inner.keys.is_empty()
    }

    /// Whether some key has this `kid`.
    pub fn contains_kid(&self, kid: &str) -> bool {
        self.inner.keys.iter().any(|k| k.kid() == Some(kid))
    }

    /// Whether some key has this thumbprint.
    pub fn contains_thumbprint(&self, thumbprint: &[u8; 32]) -> bool {
        self.inner.keys.iter().any(|k| k.thumbprint() == thumbprint)
    }
}

impl KeySetInner {
    fn push(&mut self, key: Key, index: usize) {
        if let Some(kid) = key.kid() {
            let clash = self.keys.iter().any(|other| {
                other.kid() == Some(kid)
                    && !other.algorithms().intersection(key.algorithms()).is_empty()
            });
            if clash {
                self.skipped.push(SkippedKey {
                    kid: Some(kid.to_owned()),
                    index,
                    reason: SkipReason::DuplicateKid,
                });
                return;
            }
        }
        self.keys.push(key);
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("keys", &self.inner.keys)
            .field("skipped", &self.inner.skipped)
            .finish()
    }
}
