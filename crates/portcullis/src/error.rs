//! Configuration errors: one type for the whole workspace, so `?` works across the
//! builders of every crate.

pub use portcullis_jwt::ConfigError;
