//! `[[server.tls]]` as the gateway runs it: the listeners, the files to read, and how
//! clients are asked for certificates. The files themselves are read by
//! [`crate::tls`], at start, by `check-config`, and whenever they change.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::ConfigFileError;
use super::error::KeyPath;
use super::file::TlsSection;

/// One `[[server.tls]]` table, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsListenerConfig {
    /// Its key path (`server.tls[0]`), for the errors of the files it names.
    pub(crate) at: String,
    pub(crate) listen: Vec<SocketAddr>,
    /// The first is served to clients that send no server name or one no certificate
    /// covers.
    pub(crate) certificates: Vec<CertificateFiles>,
    pub(crate) client_ca_file: Option<PathBuf>,
    pub(crate) client_certificate: ClientCertificateMode,
    pub(crate) min_version: TlsVersion,
    /// `None`: the files are read again on SIGHUP only.
    pub(crate) watch_interval: Option<Duration>,
}

/// A certificate chain and its private key, PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertificateFiles {
    pub(crate) chain_file: PathBuf,
    pub(crate) key_file: PathBuf,
}

/// The oldest TLS version a listener accepts (rustls speaks nothing older than 1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TlsVersion {
    Tls12,
    Tls13,
}

/// Whether a listener with a client CA lets clients without a certificate in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientCertificateMode {
    Required,
    Optional,
}

const DEFAULT_WATCH_INTERVAL: Duration = Duration::from_secs(10);

pub(super) fn listener(
    section: TlsSection,
    at: &KeyPath,
) -> Result<TlsListenerConfig, ConfigFileError> {
    if section.client_certificate.is_some() && section.client_ca_file.is_none() {
        return Err(at
            .key("client_certificate")
            .error("needs client_ca_file: the CA that client certificates are verified against"));
    }
    let watch_interval = match section.watch_interval {
        None => Some(DEFAULT_WATCH_INTERVAL),
        Some(span) if span.0.is_zero() => None,
        Some(span) if span.0 < Duration::from_secs(1) => {
            return Err(at
                .key("watch_interval")
                .error("must be at least 1s, or 0s to read the files on SIGHUP only"));
        }
        Some(span) => Some(span.0),
    };
    Ok(TlsListenerConfig {
        at: at.to_string(),
        listen: section.listen.0.into_iter().map(|a| a.0).collect(),
        certificates: section
            .certificates
            .0
            .into_iter()
            .map(|c| CertificateFiles {
                chain_file: c.chain_file,
                key_file: c.key_file,
            })
            .collect(),
        client_ca_file: section.client_ca_file,
        client_certificate: section
            .client_certificate
            .map_or(ClientCertificateMode::Required, |m| m.0),
        min_version: section.min_version.map_or(TlsVersion::Tls12, |v| v.0),
        watch_interval,
    })
}
