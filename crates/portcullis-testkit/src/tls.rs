//! Certificates generated at test time, and a TLS client that shows what the server
//! chose (certificate, protocol).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use portcullis_testkit::tls::TestCa;
//!
//! let ca = TestCa::new("test CA");
//! let server = ca.server(&["localhost", "127.0.0.1"]);
//! let client = ca.client("alice");
//! assert!(server.chain_pem().starts_with("-----BEGIN CERTIFICATE-----"));
//! assert_ne!(server.der(), client.der());
//! # }
//! ```

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt as _, Empty};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A certificate authority that signs server and client certificates (ECDSA P-256).
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
    pem: String,
}

impl TestCa {
    /// A new self-signed CA whose subject's common name is `name`.
    ///
    /// # Panics
    /// If key generation fails (it does not with the built-in provider).
    pub fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("no names");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("a P-256 key");
        let certificate = params.self_signed(&key).expect("a self-signed CA");
        TestCa {
            der: certificate.der().clone(),
            pem: certificate.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// The CA certificate, PEM.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// The CA certificate, DER.
    pub fn der(&self) -> &CertificateDer<'static> {
        &self.der
    }

    /// Writes the CA certificate (PEM) to `dir/name` and returns its path.
    ///
    /// # Panics
    /// If the file cannot be written.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, &self.pem).expect("write the CA certificate");
        path
    }

    /// A server certificate for `names` (DNS names or IP addresses; the first is also
    /// the common name).
    ///
    /// # Panics
    /// If a name is neither a DNS name nor an IP address.
    pub fn server(&self, names: &[&str]) -> TestCertificate {
        self.leaf(names, ExtendedKeyUsagePurpose::ServerAuth)
    }

    /// A client certificate whose common name is `name`.
    pub fn client(&self, name: &str) -> TestCertificate {
        let mut certificate = self.leaf(&[], ExtendedKeyUsagePurpose::ClientAuth);
        certificate.common_name = name.to_owned();
        certificate
    }

    fn leaf(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> TestCertificate {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names.clone()).expect("DNS names or IPs");
        let common_name = names
            .first()
            .cloned()
            .unwrap_or_else(|| "client".to_owned());
        params
            .distinguished_name
            .push(DnType::CommonName, common_name.clone());
        params.extended_key_usages = vec![usage];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().expect("a P-256 key");
        let certificate = params.signed_by(&key, &self.issuer).expect("signed");
        TestCertificate {
            common_name,
            der: certificate.der().clone(),
            chain_pem: format!("{}{}", certificate.pem(), self.pem),
            key_pem: key.serialize_pem(),
            key_der: key.serialize_der(),
        }
    }
}

impl fmt::Debug for TestCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

/// A leaf certificate, its chain up to the CA, and its private key.
#[derive(Clone)]
pub struct TestCertificate {
    common_name: String,
    der: CertificateDer<'static>,
    chain_pem: String,
    key_pem: String,
    key_der: Vec<u8>,
}

impl TestCertificate {
    /// The leaf, DER.
    pub fn der(&self) -> &CertificateDer<'static> {
        &self.der
    }

    /// The leaf then the CA, PEM (what a `tls.crt` holds).
    pub fn chain_pem(&self) -> &str {
        &self.chain_pem
    }

    /// The private key, PKCS#8 PEM (what a `tls.key` holds).
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The common name.
    pub fn common_name(&self) -> &str {
        &self.common_name
    }

    /// The chain and the key as rustls takes them.
    pub fn rustls_identity(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let chain = vec![self.der.clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        (chain, key)
    }

    /// Writes `dir/<stem>.crt` (the chain) and `dir/<stem>.key` (the key), replacing
    /// them if they exist, and returns their paths.
    ///
    /// # Panics
    /// If the files cannot be written.
    pub fn write(&self, dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
        let chain = dir.join(format!("{stem}.crt"));
        let key = dir.join(format!("{stem}.key"));
        std::fs::write(&chain, &self.chain_pem).expect("write the chain");
        std::fs::write(&key, &self.key_pem).expect("write the key");
        (chain, key)
    }

    /// A server configuration presenting this certificate, with ALPN `h2` and
    /// `http/1.1`.
    ///
    /// # Panics
    /// If rustls refuses the key (it does not for keys this module makes).
    pub fn server_config(&self) -> rustls::ServerConfig {
        self.server_config_for(None)
    }

    /// As [`TestCertificate::server_config`], refusing clients without a certificate
    /// signed by `clients`.
    ///
    /// # Panics
    /// As [`TestCertificate::server_config`].
    pub fn server_config_requiring_client(&self, clients: &TestCa) -> rustls::ServerConfig {
        self.server_config_for(Some(clients))
    }

    fn server_config_for(&self, clients: Option<&TestCa>) -> rustls::ServerConfig {
        let (chain, key) = self.rustls_identity();
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("default versions");
        let builder = match clients {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = rustls::RootCertStore::empty();
                roots.add(ca.der().clone()).expect("a usable CA");
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider(),
                )
                .build()
                .expect("a client verifier");
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(chain, key)
            .expect("a usable certificate");
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        config
    }
}

impl fmt::Debug for TestCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCertificate")
            .field("common_name", &self.common_name)
            .finish_non_exhaustive()
    }
}

/// A client configuration trusting `ca`, offering `alpn` (`b"h2"`, `b"http/1.1"`) and,
/// when given, presenting `identity`.
///
/// # Panics
/// If rustls refuses the CA or the identity (it does not for ones this module makes).
pub fn client_config(
    ca: &TestCa,
    alpn: &[&[u8]],
    identity: Option<&TestCertificate>,
) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der().clone()).expect("a usable CA");
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("default versions")
        .with_root_certificates(roots);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some(identity) => {
            let (chain, key) = identity.rustls_identity();
            builder
                .with_client_auth_cert(chain, key)
                .expect("a usable client certificate")
        }
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

/// One TLS connection to a server, and the HTTP/1.1 or HTTP/2 session over it (as ALPN
/// chose; HTTP/1.1 without ALPN).
pub struct TlsClient {
    sender: Sender,
    alpn: Option<Vec<u8>>,
    server_certificate: Option<CertificateDer<'static>>,
}

enum Sender {
    Http1(http1::SendRequest<Empty<Bytes>>),
    Http2(http2::SendRequest<Empty<Bytes>>),
}

/// An answer read whole.
#[derive(Debug)]
pub struct TlsResponse {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl TlsClient {
    /// Connects to `addr`, sending `server_name` as SNI (unless it is an IP address,
    /// which TLS never sends), and completes the TLS and HTTP handshakes.
    ///
    /// # Errors
    /// The connection or either handshake failed (a refused certificate, an alert).
    pub async fn connect(
        addr: SocketAddr,
        server_name: &str,
        config: rustls::ClientConfig,
    ) -> io::Result<TlsClient> {
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let tcp = TcpStream::connect(addr).await?;
        let tls = TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await?;
        let (_, session) = tls.get_ref();
        let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
        let server_certificate = session
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|c| c.clone().into_owned());
        let io = TokioIo::new(tls);
        let sender = if alpn.as_deref() == Some(b"h2") {
            let (sender, connection) = http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(io::Error::other)?;
            tokio::spawn(connection);
            Sender::Http2(sender)
        } else {
            let (sender, connection) = http1::handshake(io).await.map_err(io::Error::other)?;
            tokio::spawn(connection);
            Sender::Http1(sender)
        };
        Ok(TlsClient {
            sender,
            alpn,
            server_certificate,
        })
    }

    /// The protocol ALPN chose, if any.
    pub fn alpn(&self) -> Option<&[u8]> {
        self.alpn.as_deref()
    }

    /// The certificate the server presented.
    pub fn server_certificate(&self) -> Option<&CertificateDer<'static>> {
        self.server_certificate.as_ref()
    }

    /// Sends `GET path` with `headers` (`Host` is `localhost` over HTTP/1.1) on this
    /// connection and reads the answer.
    ///
    /// # Errors
    /// The connection failed or was closed.
    pub async fn get(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<TlsResponse, hyper::Error> {
        // HTTP/2 carries the host in the URI (`:authority`), HTTP/1.1 in `Host`.
        let mut request = match self.sender {
            Sender::Http2(_) => Request::get(format!("https://localhost{path}")),
            Sender::Http1(_) => Request::get(path).header("host", "localhost"),
        };
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Empty::new()).expect("a valid request");
        let response = match &mut self.sender {
            Sender::Http1(sender) => {
                sender.ready().await?;
                sender.send_request(request).await?
            }
            Sender::Http2(sender) => {
                sender.ready().await?;
                sender.send_request(request).await?
            }
        };
        let (parts, body) = response.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(TlsResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

impl fmt::Debug for TlsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsClient")
            .field("alpn", &self.alpn)
            .finish_non_exhaustive()
    }
}

/// Sends a TLS 1.1 `ClientHello` (no `supported_versions` extension) to `addr` and
/// returns the first record the server answers with: a TLS 1.2+ server answers with a
/// fatal `protocol_version` alert, `[21, 3, x, 0, 2, 2, 70]`. `None` if it closed the
/// connection without a record.
///
/// # Errors
/// The connection failed.
pub async fn tls11_client_hello(addr: SocketAddr) -> io::Result<Option<Vec<u8>>> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    // Cipher suites TLS 1.1 clients offered: ECDHE-RSA/ECDSA with AES-CBC-SHA, RSA.
    let suites: [u16; 4] = [0xc013, 0xc009, 0x002f, 0x0035];
    let mut body = Vec::new();
    body.extend_from_slice(&[0x03, 0x02]); // client_version: TLS 1.1
    body.extend_from_slice(&[0x11; 32]); // random
    body.push(0); // no session id
    body.extend_from_slice(&u16::try_from(suites.len() * 2).unwrap_or(0).to_be_bytes());
    for suite in suites {
        body.extend_from_slice(&suite.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // compression: null
    // Extensions: supported_groups (secp256r1), ec_point_formats (uncompressed), and
    // signature_algorithms (which TLS 1.1 did not have; sent so that the version is
    // the only thing a server can object to).
    let extensions: [u8; 26] = [
        0, 10, 0, 4, 0, 2, 0, 23, // supported_groups
        0, 11, 0, 2, 1, 0, // ec_point_formats
        0, 13, 0, 8, 0, 6, 4, 3, 8, 4, 4, 1, // signature_algorithms
    ];
    body.extend_from_slice(&u16::try_from(extensions.len()).unwrap_or(0).to_be_bytes());
    body.extend_from_slice(&extensions);
    let mut handshake = vec![1]; // client_hello
    let length = u32::try_from(body.len()).unwrap_or(0).to_be_bytes();
    handshake.extend_from_slice(&length[1..]);
    handshake.extend_from_slice(&body);
    let mut record = vec![22, 0x03, 0x02];
    record.extend_from_slice(&u16::try_from(handshake.len()).unwrap_or(0).to_be_bytes());
    record.extend_from_slice(&handshake);

    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(&record).await?;
    let mut header = [0u8; 5];
    if stream.read_exact(&mut header).await.is_err() {
        return Ok(None);
    }
    let length = usize::from(u16::from_be_bytes([header[3], header[4]])).min(16 * 1024);
    let mut payload = vec![0u8; length];
    stream.read_exact(&mut payload).await?;
    let mut answer = header.to_vec();
    answer.extend_from_slice(&payload);
    Ok(Some(answer))
}
