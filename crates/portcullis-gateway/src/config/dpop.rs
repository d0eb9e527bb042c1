//! The `[dpop]` section: the library's [`DpopPolicy`], built while the file is checked,
//! so `check-config` refuses what the gateway could not start with.

use portcullis::DpopPolicy;
use portcullis_issuer::InMemoryProofReplayStore;
use portcullis_issuer::Secret;
use portcullis_jwt::dpop::{DEFAULT_NONCE_WINDOW, DpopNonces, DpopValidation};

use super::error::{ConfigFileError, KeyPath};
use super::file::DpopSection;
use super::issuer::resolve;
use super::library_error;
use super::value::Span;

/// The library's names for the settings of `[dpop]`, and the gateway's keys for them.
const KEYS: [(&str, &str); 4] = [
    ("origin", "origin"),
    ("algorithms", "algorithms"),
    ("max_age", "max_age"),
    ("leeway", "leeway"),
];

/// The DPoP policy `section` describes (`origin`: where the config file is, to resolve
/// `nonce_secret_file`).
pub(super) fn policy(
    section: DpopSection,
    origin: &str,
    store: Option<&super::StoreConfig>,
) -> Result<DpopPolicy, ConfigFileError> {
    let at = KeyPath::new("dpop");
    let nonces = nonces(&section, &at, origin)?;
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
    let shared = store.filter(|store| store.dpop_replay == super::DpopReplay::FailClosed);
    if let Some(store) = shared {
        if section.replay_capacity.is_some() {
            return Err(at.key("replay_capacity").error(
                "proofs are remembered in [store] (dpop_replay = \"fail_closed\"): \
                 replay_capacity is for the in-process store",
            ));
        }
        builder = builder.replay_store(super::store::replay_store(store));
    }
    if let Some(capacity) = section.replay_capacity {
        let store = InMemoryProofReplayStore::new(capacity.0)
            .map_err(|e| library_error(&at, &e, &[("replay_capacity", "replay_capacity")]))?;
        builder = builder.replay_store(store);
    }
    if let Some(nonces) = nonces {
        builder = builder.nonces(nonces);
    }
    builder.build().map_err(|e| library_error(&at, &e, &KEYS))
}

/// The nonces `section` asks for: off unless `nonces = true`; the secret from the
/// environment or a file (replicas share it), else random for this process.
fn nonces(
    section: &DpopSection,
    at: &KeyPath,
    origin: &str,
) -> Result<Option<DpopNonces>, ConfigFileError> {
    let window = Span::or(section.nonce_window, DEFAULT_NONCE_WINDOW);
    let secret = match (&section.nonce_secret_env, &section.nonce_secret_file) {
        (None, None) => None,
        (Some(variable), None) => {
            Some(Secret::from_env(variable).map_err(|m| at.key("nonce_secret_env").error(m))?)
        }
        (None, Some(path)) => Some(
            Secret::from_file(&resolve(origin, path))
                .map_err(|m| at.key("nonce_secret_file").error(m))?,
        ),
        (Some(_), Some(_)) => {
            return Err(at.error("set at most one of nonce_secret_env and nonce_secret_file"));
        }
    };
    if section.nonces != Some(true) {
        if secret.is_some() || section.nonce_window.is_some() {
            return Err(at
                .key("nonces")
                .error("nonce settings are given but nonces are off (nonces = true)"));
        }
        return Ok(None);
    }
    let keys = [
        ("nonce_secret", "nonce_secret_env"),
        ("nonce_window", "nonce_window"),
    ];
    let nonces = match secret {
        Some(secret) => DpopNonces::new(secret.expose().as_bytes(), window),
        None => DpopNonces::random(window),
    };
    nonces.map(Some).map_err(|e| library_error(at, &e, &keys))
}
