//! JWS signature algorithms and allow-lists of them.

use std::fmt;

/// A JWS signature algorithm that Portcullis can verify.
///
/// `none` is not a variant: an unsigned token cannot be expressed, let alone accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256 and MGF1 with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384 and MGF1 with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512 and MGF1 with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// ECDSA on P-521 with SHA-512.
    ES512,
    /// EdDSA (RFC 8037); only Ed25519 keys are supported.
    EdDSA,
    /// Ed25519, the fully specified name (RFC 9864).
    Ed25519,
    /// HMAC with SHA-256. Only with a secret configured by the application.
    HS256,
    /// HMAC with SHA-384. Only with a secret configured by the application.
    HS384,
    /// HMAC with SHA-512. Only with a secret configured by the application.
    HS512,
}

/// The broad family of key an algorithm needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Family {
    Rsa,
    Ec,
    Okp,
    Hmac,
}

impl Algorithm {
    /// Every algorithm, in a stable order.
    pub const ALL: [Algorithm; 14] = [
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::ES512,
        Algorithm::EdDSA,
        Algorithm::Ed25519,
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
    ];

    /// The name used in the JWS `alg` header parameter.
    pub const fn name(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::ES512 => "ES512",
            Algorithm::EdDSA => "EdDSA",
            Algorithm::Ed25519 => "Ed25519",
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
        }
    }

    /// Looks an algorithm up by its exact, case-sensitive JWS name.
    ///
    /// Returns `None` for `none`, for encryption algorithms and for anything unknown.
    pub fn from_name(name: &str) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|alg| alg.name() == name)
    }

    /// Whether this is an HMAC (shared secret) algorithm.
    pub const fn is_symmetric(self) -> bool {
        matches!(self, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
    }

    pub(crate) const fn family(self) -> Family {
        match self {
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => Family::Rsa,
            Algorithm::ES256 | Algorithm::ES384 | Algorithm::ES512 => Family::Ec,
            Algorithm::EdDSA | Algorithm::Ed25519 => Family::Okp,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => Family::Hmac,
        }
    }

    /// The `N` algorithms of `family`, in [`Algorithm::ALL`] order. Used in a `const`,
    /// a wrong `N` fails the build.
    pub(crate) const fn all_of_family<const N: usize>(family: Family) -> [Algorithm; N] {
        let mut out = [Algorithm::RS256; N];
        let mut n = 0;
        let mut i = 0;
        while i < Algorithm::ALL.len() {
            let alg = Algorithm::ALL[i];
            if alg.family() as u8 == family as u8 {
                assert!(n < N, "more algorithms of this family than N");
                out[n] = alg;
                n += 1;
            }
            i += 1;
        }
        assert!(n == N, "fewer algorithms of this family than N");
        out
    }

    const fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::from_name(s).ok_or(UnknownAlgorithm(()))
    }
}

/// The error of parsing an [`Algorithm`] from a name that is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownAlgorithm(());

impl fmt::Display for UnknownAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown or unsupported JWS algorithm")
    }
}

impl std::error::Error for UnknownAlgorithm {}

/// A set of [`Algorithm`]s, stored as a bit set: copying and membership tests are free.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AlgorithmSet(u16);

impl AlgorithmSet {
    /// The empty set.
    pub const EMPTY: AlgorithmSet = AlgorithmSet(0);

    /// Every asymmetric algorithm: RSA PKCS#1 v1.5 and PSS, ECDSA, and EdDSA.
    pub const ASYMMETRIC: AlgorithmSet = AlgorithmSet(
        Algorithm::RS256.bit()
            | Algorithm::RS384.bit()
            | Algorithm::RS512.bit()
            | Algorithm::PS256.bit()
            | Algorithm::PS384.bit()
            | Algorithm::PS512.bit()
            | Algorithm::ES256.bit()
            | Algorithm::ES384.bit()
            | Algorithm::ES512.bit()
            | Algorithm::EdDSA.bit()
            | Algorithm::Ed25519.bit(),
    );

    /// The HMAC algorithms.
    pub const HMAC: AlgorithmSet =
        AlgorithmSet(Algorithm::HS256.bit() | Algorithm::HS384.bit() | Algorithm::HS512.bit());

    /// A set holding exactly one algorithm.
    pub const fn only(alg: Algorithm) -> AlgorithmSet {
        AlgorithmSet(alg.bit())
    }

    /// Whether `alg` is in the set.
    pub const fn contains(self, alg: Algorithm) -> bool {
        self.0 & alg.bit() != 0
    }

    /// Adds `alg` to the set.
    pub fn insert(&mut self, alg: Algorithm) {
        self.0 |= alg.bit();
    }

    /// The algorithms in both sets.
    pub const fn intersection(self, other: AlgorithmSet) -> AlgorithmSet {
        AlgorithmSet(self.0 & other.0)
    }

    /// The algorithms in either set.
    pub const fn union(self, other: AlgorithmSet) -> AlgorithmSet {
        AlgorithmSet(self.0 | other.0)
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The number of algorithms in the set.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The algorithms in the set, in [`Algorithm::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Algorithm> {
        Algorithm::ALL
            .into_iter()
            .filter(move |alg| self.contains(*alg))
    }

    pub(crate) fn of_family(family: Family) -> AlgorithmSet {
        Algorithm::ALL
            .into_iter()
            .filter(|alg| alg.family() == family)
            .collect()
    }
}

impl FromIterator<Algorithm> for AlgorithmSet {
    fn from_iter<I: IntoIterator<Item = Algorithm>>(iter: I) -> Self {
        let mut set = AlgorithmSet::EMPTY;
        for alg in iter {
            set.insert(alg);
        }
        set
    }
}

impl<const N: usize> From<[Algorithm; N]> for AlgorithmSet {
    fn from(algs: [Algorithm; N]) -> Self {
        algs.into_iter().collect()
    }
}

impl From<Algorithm> for AlgorithmSet {
    fn from(alg: Algorithm) -> Self {
        AlgorithmSet::only(alg)
    }
}

impl fmt::Debug for AlgorithmSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_none_is_not_an_algorithm() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::from_name(alg.name()), Some(alg));
        }
        for name in [
            "none", "None", "NONE", "nOnE", "", "rs256", "RSA-OAEP", "HS256 ",
        ] {
            assert_eq!(Algorithm::from_name(name), None, "{name:?}");
        }
    }

    #[test]
    fn set_operations() {
        let set = AlgorithmSet::from([Algorithm::RS256, Algorithm::ES256]);
        assert!(set.contains(Algorithm::RS256));
        assert!(!set.contains(Algorithm::HS256));
        assert_eq!(set.len(), 2);
        assert!(
            AlgorithmSet::ASYMMETRIC
                .intersection(AlgorithmSet::HMAC)
                .is_empty()
        );
        assert_eq!(AlgorithmSet::of_family(Family::Rsa).len(), 6);
        assert_eq!(
            AlgorithmSet::ASYMMETRIC.union(AlgorithmSet::HMAC).len(),
            Algorithm::ALL.len()
        );
    }
}
