//! A TLS listener's server configuration: built from its files, swapped whole when they
//! change, so a new handshake always sees one consistent set of certificates and CA.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use arc_swap::ArcSwap;
use portcullis::ClientCertificate;
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig, ServerConnection, SupportedProtocolVersion};
use tokio_rustls::TlsAcceptor;

use super::pem_files::{self, FileContents, read_bounded};
use super::sni::SniResolver;
use crate::config::{ClientCertificateMode, ConfigFileError, TlsListenerConfig, TlsVersion};

/// The protocols offered, most preferred first: gRPC needs `h2`.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Reads the listener's files and builds its server configuration, as at start:
/// `check-config` runs it too.
pub(crate) fn server_config(config: &TlsListenerConfig) -> Result<ServerConfig, ConfigFileError> {
    build(config, &read(config)?)
}

fn read(config: &TlsListenerConfig) -> Result<FileContents, ConfigFileError> {
    let mut certificates = Vec::with_capacity(config.certificates.len());
    for (i, files) in config.certificates.iter().enumerate() {
        let at = format!("{}.certificates[{i}]", config.at);
        certificates.push((
            read_bounded(&files.chain_file, &format!("{at}.chain_file"))?,
            read_bounded(&files.key_file, &format!("{at}.key_file"))?,
        ));
    }
    let client_ca = config
        .client_ca_file
        .as_ref()
        .map(|path| read_bounded(path, &format!("{}.client_ca_file", config.at)))
        .transpose()?;
    Ok(FileContents {
        certificates,
        client_ca,
    })
}

fn build(
    config: &TlsListenerConfig,
    contents: &FileContents,
) -> Result<ServerConfig, ConfigFileError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut keys = Vec::with_capacity(contents.certificates.len());
    for (i, (files, (chain, key))) in config
        .certificates
        .iter()
        .zip(&contents.certificates)
        .enumerate()
    {
        let at = format!("{}.certificates[{i}]", config.at);
        let chain_at = format!("{at}.chain_file");
        let chain = pem_files::certificates(chain, &files.chain_file, &chain_at)?;
        let key_at = format!("{at}.key_file");
        let key = pem_files::private_key(key, &files.key_file, &key_at)?;
        let certified = CertifiedKey::from_der(chain, key, &provider).map_err(|e| {
            let why = match e {
                rustls::Error::InconsistentKeys(_) => {
                    "does not match the first certificate of chain_file".to_owned()
                }
                other => format!("not a usable private key: {other}"),
            };
            ConfigFileError::new(key_at, format!("{}: {why}", files.key_file.display()))
        })?;
        keys.push(Arc::new(certified));
    }

    let versions: &[&SupportedProtocolVersion] = match config.min_version {
        TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        TlsVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| ConfigFileError::new(config.at.clone(), e.to_string()))?;
    let builder = match (&config.client_ca_file, &contents.client_ca) {
        (Some(path), Some(pem)) => {
            let at = format!("{}.client_ca_file", config.at);
            let mut roots = RootCertStore::empty();
            for certificate in pem_files::certificates(pem, path, &at)? {
                roots.add(certificate).map_err(|e| {
                    ConfigFileError::new(
                        at.clone(),
                        format!("{}: not a usable CA certificate: {e}", path.display()),
                    )
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = match config.client_certificate {
                ClientCertificateMode::Required => verifier,
                ClientCertificateMode::Optional => verifier.allow_unauthenticated(),
            };
            let verifier = verifier
                .build()
                .map_err(|e| ConfigFileError::new(at, format!("{}: {e}", path.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
        _ => builder.with_no_client_auth(),
    };
    let mut server = builder.with_cert_resolver(Arc::new(SniResolver::new(keys)));
    server.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(server)
}

/// The certificate a client presented and the listener verified against its
/// `client_ca_file`: what RFC 8705 binds tokens to. `None` without a client CA (no
/// certificate is asked for) or when an optional one was not sent.
pub(crate) fn verified_client_certificate(
    connection: &ServerConnection,
) -> Option<ClientCertificate> {
    connection
        .peer_certificates()
        .and_then(<[_]>::first)
        .map(|leaf| ClientCertificate::from_der(leaf))
}

/// A TLS listener's current server configuration, and the settings and files it was
/// built from.
#[derive(Debug)]
pub(crate) struct TlsTerminator {
    /// The listener's addresses as configured: fixed for the process's life.
    listen: Vec<std::net::SocketAddr>,
    current: ArcSwap<ServerConfig>,
    /// What `current` was built from; the lock also keeps reloads one at a time.
    served: Mutex<Served>,
}

#[derive(Debug)]
struct Served {
    config: TlsListenerConfig,
    contents: FileContents,
}

/// A listener's new settings, their files read and checked, ready to serve.
#[derive(Debug)]
pub(crate) struct PreparedTls {
    config: TlsListenerConfig,
    contents: FileContents,
    server: ServerConfig,
}

impl PreparedTls {
    /// Reads `config`'s files and builds its server configuration, serving nothing yet.
    pub(crate) fn prepare(config: TlsListenerConfig) -> Result<PreparedTls, ConfigFileError> {
        let contents = read(&config)?;
        let server = build(&config, &contents)?;
        Ok(PreparedTls {
            config,
            contents,
            server,
        })
    }
}

impl TlsTerminator {
    /// Reads the files and builds the first configuration.
    pub(crate) fn load(config: TlsListenerConfig) -> Result<TlsTerminator, ConfigFileError> {
        let PreparedTls {
            config,
            contents,
            server,
        } = PreparedTls::prepare(config)?;
        Ok(TlsTerminator {
            listen: config.listen.clone(),
            current: ArcSwap::from_pointee(server),
            served: Mutex::new(Served { config, contents }),
        })
    }

    /// Serves `prepared` (new settings of a reloaded configuration) to new handshakes.
    pub(crate) fn apply(&self, prepared: PreparedTls) {
        let mut served = self.served.lock().unwrap_or_else(PoisonError::into_inner);
        self.current.store(Arc::new(prepared.server));
        *served = Served {
            config: prepared.config,
            contents: prepared.contents,
        };
    }

    /// The acceptor for the next handshake.
    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.load_full())
    }

    /// The listener's addresses as configured.
    pub(crate) fn listen(&self) -> &[std::net::SocketAddr] {
        &self.listen
    }

    /// How often the files are compared with what is served (`None`: SIGHUP only).
    pub(crate) fn watch_interval(&self) -> Option<Duration> {
        let served = self.served.lock().unwrap_or_else(PoisonError::into_inner);
        served.config.watch_interval
    }

    /// Reads the files again and, if any changed and they load, serves them to new
    /// handshakes. `Ok(true)`: swapped; `Ok(false)`: nothing changed; an error: what
    /// is wrong with the new files, the old ones still serving.
    pub(crate) fn reload(&self) -> Result<bool, ConfigFileError> {
        let mut served = self.served.lock().unwrap_or_else(PoisonError::into_inner);
        let contents = read(&served.config)?;
        if contents == served.contents {
            return Ok(false);
        }
        let server = build(&served.config, &contents)?;
        self.current.store(Arc::new(server));
        served.contents = contents;
        Ok(true)
    }
}
