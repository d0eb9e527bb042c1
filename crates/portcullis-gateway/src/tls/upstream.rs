//! The TLS client configuration for `https://` upstreams: the CA they are verified
//! against (the Mozilla roots of `webpki-roots` unless `ca_file` names another) and the
//! client certificate the gateway presents, if any.

use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};

use super::pem_files::{self, read_bounded};
use crate::config::{ConfigFileError, UpstreamTls};

/// Builds the client configuration; `at` is the upstream's key path (`upstream`,
/// `upstreams.billing`), for errors about the files it names. ALPN is left to the
/// connector (`h2` or `http/1.1`, per client).
pub(crate) fn client_config(tls: &UpstreamTls, at: &str) -> Result<ClientConfig, ConfigFileError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let roots = match &tls.ca_file {
        None => RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        },
        Some(path) => {
            let at = format!("{at}.ca_file");
            let pem = read_bounded(path, &at)?;
            let mut roots = RootCertStore::empty();
            for certificate in pem_files::certificates(&pem, path, &at)? {
                roots.add(certificate).map_err(|e| {
                    ConfigFileError::new(
                        at.clone(),
                        format!("{}: not a usable CA certificate: {e}", path.display()),
                    )
                })?;
            }
            roots
        }
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigFileError::new(at, e.to_string()))?
        .with_root_certificates(roots);
    match &tls.client_certificate {
        None => Ok(builder.with_no_client_auth()),
        Some(files) => {
            let chain_at = format!("{at}.client_chain_file");
            let key_at = format!("{at}.client_key_file");
            let chain = pem_files::certificates(
                &read_bounded(&files.chain_file, &chain_at)?,
                &files.chain_file,
                &chain_at,
            )?;
            let key = pem_files::private_key(
                &read_bounded(&files.key_file, &key_at)?,
                &files.key_file,
                &key_at,
            )?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                ConfigFileError::new(
                    key_at,
                    format!(
                        "{}: not usable with the chain: {e}",
                        files.key_file.display()
                    ),
                )
            })
        }
    }
}
