//! Reading the PEM files a TLS setting names: bounded in size, every refusal at the key
//! path that names the file.

use std::fmt;
use std::path::Path;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::config::ConfigFileError;

/// Far over any certificate chain or key; a larger file is a mistake (or not PEM).
const MAX_PEM_FILE: u64 = 1024 * 1024;

/// Reads `path`, at most [`MAX_PEM_FILE`] bytes; `at` is the key that names it.
pub(crate) fn read_bounded(path: &Path, at: &str) -> Result<Vec<u8>, ConfigFileError> {
    use std::io::Read as _;
    let error =
        |message: String| ConfigFileError::new(at, format!("{}: {message}", path.display()));
    let file = std::fs::File::open(path).map_err(|e| error(format!("cannot read: {e}")))?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| error(format!("cannot read: {e}")))?;
    if bytes.len() as u64 > MAX_PEM_FILE {
        return Err(error(format!("larger than {MAX_PEM_FILE} bytes")));
    }
    Ok(bytes)
}

/// The certificates of a PEM file, in order; refused if there is none.
pub(super) fn certificates(
    pem: &[u8],
    path: &Path,
    at: &str,
) -> Result<Vec<CertificateDer<'static>>, ConfigFileError> {
    let error =
        |message: String| ConfigFileError::new(at, format!("{}: {message}", path.display()));
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(format!("not a PEM certificate file: {e}")))?;
    if chain.is_empty() {
        return Err(error("holds no CERTIFICATE block".to_owned()));
    }
    Ok(chain)
}

/// The private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
pub(super) fn private_key(
    pem: &[u8],
    path: &Path,
    at: &str,
) -> Result<PrivateKeyDer<'static>, ConfigFileError> {
    // The parser's error names no key material; say only what kind of failure it was.
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| {
        let why = match e {
            rustls::pki_types::pem::Error::NoItemsFound => "holds no PRIVATE KEY block",
            _ => "not a PEM private key file",
        };
        ConfigFileError::new(at, format!("{}: {why}", path.display()))
    })
}

/// The bytes of every file a listener reads, to tell whether any changed. Never
/// printed: it holds private keys.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct FileContents {
    /// Chain and key, per certificate.
    pub(super) certificates: Vec<(Vec<u8>, Vec<u8>)>,
    pub(super) client_ca: Option<Vec<u8>>,
}

impl fmt::Debug for FileContents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileContents").finish_non_exhaustive()
    }
}
