//! The `[dpop]` section: the library's [`DpopPolicy`], built while the file is checked,
//! so `check-config` refuses what the gateway could not start with.

use portcullis::DpopPolicy;
use portcullis_issuer::InMemoryProofReplayStore;
use portcullis_jwt::dpop::DpopValidation;

use super::error::{ConfigFileError, KeyPath};
use super::file::DpopSection;
use super::library_error;
use super::value::Span;

/// The library's names for the settings of `[dpop]`, and the gateway's keys for them.
const KEYS: [(&str, &str); 4] = [
    ("origin", "origin"),
    ("algorithms", "algorithms"),
    ("max_age", "max_age"),
    ("leeway", "leeway"),
];

/// The DPoP policy `section` describes.
pub(super) fn policy(section: DpopSection) -> Result<DpopPolicy, ConfigFileError> {
    let at = KeyPath::new("dpop");
    let mut validation = DpopValidation::builder()
        .max_age(Span::or(
            section.max_age,
            portcullis_jwt::dpop::DEFAULT_PROOF_MAX_AGE,
        ))
        .leeway(Span::or(
            section.leeway,
            portcullis_jwt::dpop::DEFAULT_PROOF_LEEWAY,
        ));
    if let Some(algorithms) = section.algorithms {
        validation = validation.algorithms(algorithms.0.into_iter().map(|alg| alg.0));
    }
    let validation = validation
        .build()
        .map_err(|e| library_error(&at, &e, &KEYS))?;
    let mut builder = DpopPolicy::builder(section.origin).validation(validation);
    if let Some(mode) = section.mode {
        builder = builder.mode(mode.0);
    }
    if let Some(capacity) = section.replay_capacity {
        let store = InMemoryProofReplayStore::new(capacity.0)
            .map_err(|e| library_error(&at, &e, &[("replay_capacity", "replay_capacity")]))?;
        builder = builder.replay_store(store);
    }
    builder.build().map_err(|e| library_error(&at, &e, &KEYS))
}
