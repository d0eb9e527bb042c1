//! Guides: longer than item docs, kept in `guide/` beside this crate's sources so they
//! are packaged, tested as doctests and read the same on GitHub and docs.rs.
//!
//! - [`layers`]: the tower layers, where the token comes from, responses,
//!   observability, deployment caveats.
//! - [`sender_constrained`]: DPoP (RFC 9449): what is checked, replays and replicas,
//!   what it protects against and what it does not.
//!
//! The issuer side (discovery, remote key sets, introspection) has its guides in
//! [`portcullis_issuer::guide`].

// Each guide's links are written for GitHub (relative paths); the reference
// definitions given here first take precedence on docs.rs (CommonMark: the first
// definition of a label wins).
#[doc = "[issuer-guide]: portcullis_issuer::guide::issuer"]
#[doc = "[introspection-guide]: portcullis_issuer::guide::introspection"]
#[doc = "[benchmarks-layers]: https://github.com/portcullis-rs/portcullis/blob/main/docs/benchmarks-layers.md"]
#[doc = include_str!("../guide/layers.md")]
pub mod layers {}

#[doc = include_str!("../guide/sender-constrained.md")]
pub mod sender_constrained {}
