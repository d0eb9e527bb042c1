//! Guides: longer than item docs, kept in `guide/` beside this crate's sources so they
//! are packaged, tested as doctests and read the same on GitHub and docs.rs.
//!
//! - [`issuer`]: discovery, HTTP rules, the remote key set (defaults, rotation, floods
//!   of made-up `kid`s, outages, readiness), deployment caveats.
//! - [`introspection`]: opaque tokens (RFC 7662), client authentication, the result
//!   cache and its revocation window, hybrid and multi-issuer routing.

// Each guide's links are written for GitHub (relative paths); the reference
// definitions given here first take precedence on docs.rs (CommonMark: the first
// definition of a label wins).
#[doc = "[introspection-guide]: crate::guide::introspection"]
#[doc = include_str!("../guide/issuer.md")]
pub mod issuer {}

#[doc = "[issuer-guide]: crate::guide::issuer"]
#[doc = "[benchmarks]: https://github.com/portcullis-rs/portcullis/blob/main/docs/benchmarks.md"]
#[doc = include_str!("../guide/introspection.md")]
pub mod introspection {}
