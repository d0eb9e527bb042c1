//! Reloading while serving: the whole configuration (on SIGHUP or when its file
//! changes), and each TLS listener's certificate files (when they change).
//!
//! A new configuration is checked exactly as `check-config` checks it and built in full
//! (issuers, TLS settings, upstream clients, routes) before anything is swapped; then
//! requests that arrive get the new one, and requests in flight finish on the one they
//! started with. Issuers whose table and local files are unchanged are reused, their
//! key sets and caches warm. A configuration that does not check leaves the running one
//! serving. Listener addresses are bound once: changing them needs a restart.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use crate::auth::{IssuerSet, PreparedIssuers};
use crate::config::{Config, ConfigFileError};
use crate::events::{EventSink, GatewayEvent};
use crate::server::{BoundTerminator, SharedState, StartError, build_state};
use crate::tls::{PreparedTls, TlsTerminator};

/// Reloads a running gateway's configuration and files; from
/// [`Gateway::reloader`](crate::Gateway::reloader), usable while it serves (the binary
/// calls it on SIGHUP and when the configuration file changes). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Reloader {
    state: SharedState,
    terminators: Vec<BoundTerminator>,
    events: EventSink,
    /// One reload at a time: two racing would each build from the same old state.
    serialise: Arc<Mutex<()>>,
}

impl Reloader {
    pub(crate) fn new(
        state: SharedState,
        terminators: Vec<BoundTerminator>,
        events: EventSink,
    ) -> Reloader {
        Reloader {
            state,
            terminators,
            events,
            serialise: Arc::new(Mutex::new(())),
        }
    }

    /// Reads every TLS listener's certificate, key and CA files again; those that
    /// changed and load serve new handshakes (established connections keep theirs),
    /// those that do not load leave the previous ones serving. Each change or refusal
    /// is logged and reported as a [`GatewayEvent`].
    pub fn reload_certificates(&self) {
        for (terminator, listeners) in &self.terminators {
            reload_terminator(terminator, listeners, &self.events, None);
        }
    }

    /// Serves `config` from now on, if it checks as `check-config` checks it
    /// ([`Config::check_sources`]: key files, secrets, certificates) and binds no other
    /// address than the running one. Reports [`GatewayEvent::ConfigReloaded`], or
    /// [`GatewayEvent::ConfigRefused`] with the error while the running configuration
    /// keeps serving. Reads files and starts issuers: call it inside a Tokio runtime,
    /// from a thread that may block (`spawn_blocking`).
    ///
    /// # Errors
    /// What refused the new configuration (also reported as an event).
    pub fn reload(&self, config: Config) -> Result<(), StartError> {
        let source = config.source.clone();
        let result = self.swap(config);
        match &result {
            Ok(()) => self.events.emit(&GatewayEvent::ConfigReloaded { source }),
            Err(error) => self.events.emit(&GatewayEvent::ConfigRefused {
                error: error.to_string(),
            }),
        }
        result
    }

    /// Reads the configuration file at `path` and [reloads](Reloader::reload) it: what
    /// the binary does on SIGHUP and when the file changes. A file that does not parse
    /// is refused (and reported) the same way.
    ///
    /// # Errors
    /// As [`Reloader::reload`].
    pub fn reload_file(&self, path: &std::path::Path) -> Result<(), StartError> {
        match Config::from_file(path) {
            Ok(config) => self.reload(config),
            Err(error) => {
                self.events.emit(&GatewayEvent::ConfigRefused {
                    error: error.to_string(),
                });
                Err(StartError::Config(error))
            }
        }
    }

    fn swap(&self, config: Config) -> Result<(), StartError> {
        let _one_at_a_time = self
            .serialise
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let running = self.state.load_full();
        let in_file = |e: ConfigFileError| StartError::Config(e.in_file(&config.source));
        same_listeners(&running.core.config, &config).map_err(in_file)?;
        no_store(&running.core.config, &config).map_err(in_file)?;
        config.check_sources().map_err(StartError::Config)?;
        let prepared = PreparedIssuers::prepare(&config.issuers, None).map_err(in_file)?;
        let tls = config
            .tls
            .iter()
            .map(|listener| PreparedTls::prepare(listener.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(in_file)?;
        let issuers = IssuerSet::start_reusing(prepared, Some(&running.issuers), None)
            .map_err(|e| StartError::Other(e.to_string()))?;
        let state = build_state(
            config,
            issuers,
            None,
            running.core.tunnels.signals(),
            running.operations_on_main,
            Some(&running),
        )?;
        for ((terminator, _), prepared) in self.terminators.iter().zip(tls) {
            terminator.apply(prepared);
        }
        self.state.store(Arc::new(state));
        Ok(())
    }
}

/// Refuses a configuration that would listen elsewhere than the running one: its
/// listeners are bound once, at start.
/// A gateway sharing state on a store (`[store]`) is restarted to change its
/// configuration: the store's connection, the revocations it keeps in sync and the DPoP
/// replay store belong to the process, and a second connection started by a reload
/// would answer before it had loaded the revocation set. Certificates still reload.
fn no_store(running: &Config, new: &Config) -> Result<(), ConfigFileError> {
    if running.store.is_some() || new.store.is_some() {
        return Err(ConfigFileError::new(
            "store",
            "a gateway with [store] does not reload its configuration; restart it (a \
             rolling restart of the replicas) to change it",
        ));
    }
    Ok(())
}

fn same_listeners(running: &Config, new: &Config) -> Result<(), ConfigFileError> {
    let restart = |at: &str| {
        ConfigFileError::new(
            at,
            "listener addresses differ from the running ones; restart to change them",
        )
    };
    if running.listen != new.listen {
        return Err(restart("server.listen"));
    }
    if running.tls.len() != new.tls.len() {
        return Err(restart("server.tls"));
    }
    for (old, new) in running.tls.iter().zip(&new.tls) {
        if old.listen != new.listen {
            return Err(restart(&format!("{}.listen", new.at)));
        }
    }
    if running.operations_listen != new.operations_listen {
        return Err(restart("operations.listen"));
    }
    let http = |config: &Config| {
        (config.decision.as_ref())
            .and_then(|d| d.http.as_ref())
            .map(|http| http.listen.clone())
    };
    if http(running) != http(new) {
        return Err(restart("decision.listen"));
    }
    let grpc = |config: &Config| (config.decision.as_ref()).map(|d| d.grpc_listen.clone());
    if grpc(running) != grpc(new) {
        return Err(restart("decision.grpc_listen"));
    }
    Ok(())
}

/// Reloads one listener's files and reports the outcome, unless it is the refusal
/// `last_refusal` already reported (a watcher polling a broken file says so once).
fn reload_terminator(
    terminator: &TlsTerminator,
    listeners: &[SocketAddr],
    events: &EventSink,
    last_refusal: Option<&mut Option<String>>,
) {
    let listeners = listeners.to_vec();
    match terminator.reload() {
        Ok(false) => {}
        Ok(true) => {
            if let Some(last) = last_refusal {
                *last = None;
            }
            events.emit(&GatewayEvent::CertificatesReloaded { listeners });
        }
        Err(error) => {
            let error = error.to_string();
            if let Some(last) = last_refusal {
                if last.as_deref() == Some(error.as_str()) {
                    return;
                }
                *last = Some(error.clone());
            }
            events.emit(&GatewayEvent::CertificatesRefused { listeners, error });
        }
    }
}

/// How often a listener whose files are not watched looks again at its setting (a
/// reload may turn watching on).
const UNWATCHED_RECHECK: Duration = Duration::from_secs(60);

/// Compares a TLS listener's files with what it serves every `watch_interval` and
/// reloads them when they changed (cert-manager rotating a mounted secret). Ends when
/// `stop` changes.
pub(crate) async fn watch_files(
    terminator: Arc<TlsTerminator>,
    listeners: Vec<SocketAddr>,
    events: EventSink,
    mut stop: watch::Receiver<bool>,
) {
    let mut last_refusal = None;
    loop {
        let interval = terminator.watch_interval();
        tokio::select! {
            () = tokio::time::sleep(interval.unwrap_or(UNWATCHED_RECHECK)) => {}
            _ = stop.changed() => return,
        }
        if interval.is_none() || terminator.watch_interval().is_none() {
            continue;
        }
        let terminator = terminator.clone();
        let listeners = listeners.clone();
        let events = events.clone();
        let mut refusal = last_refusal.take();
        // Reading files blocks; keep it off the runtime's workers.
        let joined = tokio::task::spawn_blocking(move || {
            reload_terminator(&terminator, &listeners, &events, Some(&mut refusal));
            refusal
        })
        .await;
        last_refusal = joined.unwrap_or_default();
    }
}
