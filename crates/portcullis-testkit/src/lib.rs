//! A local OAuth 2.0 issuer for testing resource servers.
//!
//! Generate keys for every JWS algorithm, mint access tokens with any header and claims
//! (including wrong ones), and publish the matching JWK Set. Signing goes through
//! [josekit](https://docs.rs/josekit) (OpenSSL), an implementation independent of the
//! one Portcullis verifies with, so a verifier is never checked only against itself.
//!
//! ```
//! use portcullis_testkit::{SigningAlgorithm, SigningKey, jwks};
//!
//! let key = SigningKey::generate(SigningAlgorithm::ES256);
//! let token = key
//!     .token()
//!     .standard_claims("https://issuer.test", "https://api.test", 1_700_000_000)
//!     .claim("scope", "read write")
//!     .sign();
//! assert_eq!(token.split('.').count(), 3);
//! let document = jwks([&key]);
//! assert_eq!(document["keys"][0]["kid"], key.kid());
//! ```

mod key;
mod token;

pub use key::{SigningAlgorithm, SigningKey, jwks, random_id};
pub use token::{TokenBuilder, encode_compact};
