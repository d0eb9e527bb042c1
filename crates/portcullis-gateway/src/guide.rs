//! Guides: longer than item docs, kept in `guide/` beside this crate's sources so they
//! are packaged and read the same on GitHub and docs.rs.
//!
//! - [`gateway`]: the commands, the configuration file field by field, what the gateway
//!   answers, proxying, metrics, deployment caveats.

// The guide's links are written for GitHub (relative paths); the reference definitions
// given here first take precedence on docs.rs (CommonMark: the first definition of a
// label wins).
#[doc = "[gateway-toml]: https://github.com/portcullis-rs/portcullis/blob/main/examples/gateway.toml"]
#[doc = "[layers-guide]: portcullis::guide::layers"]
#[doc = "[sender-constrained-guide]: portcullis::guide::sender_constrained"]
#[doc = "[decision-doc]: https://github.com/portcullis-rs/portcullis/blob/main/docs/decision.md"]
#[doc = include_str!("../guide/gateway.md")]
pub mod gateway {}
