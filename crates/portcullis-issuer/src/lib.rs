//! Talking to the issuer: discovery, remote key sets, and (later) introspection.
//!
//! The entry point for resource servers is [`JwtVerifier`]: a [`Validation`] plus a
//! source of keys, answering "is this token acceptable?" asynchronously, because the
//! answer may need a key set fetched from the issuer.

pub mod introspection;
pub mod token_cache;
mod verifier;

pub use token_cache::{Cached, TokenCache, TokenCacheBuilder, TokenCacheStats, TokenKey};
pub use verifier::{JwtVerifier, VerifyError, VerifyErrorKind};

#[doc(no_inline)]
pub use portcullis_jwt::{Claims, Validation};
