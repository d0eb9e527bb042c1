//! Choosing the certificate by the name the client asked for (SNI).

use std::sync::Arc;

use rustls::pki_types::{DnsName, ServerName};
use rustls::server::{ClientHello, ParsedCertificate, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// A listener's certificates: the first that covers the requested name (exact or
/// wildcard, as a client would check it), else the first one, as nginx's default server
/// does, for clients that send no name (addressed by IP) or an unknown one.
#[derive(Debug)]
pub(super) struct SniResolver {
    certificates: Vec<Arc<CertifiedKey>>,
}

impl SniResolver {
    /// `certificates` is not empty (checked with the configuration).
    pub(super) fn new(certificates: Vec<Arc<CertifiedKey>>) -> SniResolver {
        SniResolver { certificates }
    }

    fn covering(&self, name: &ServerName<'_>) -> Option<&Arc<CertifiedKey>> {
        self.certificates.iter().find(|certified| {
            certified
                .end_entity_cert()
                .ok()
                .and_then(|der| ParsedCertificate::try_from(der).ok())
                .is_some_and(|leaf| rustls::client::verify_server_name(&leaf, name).is_ok())
        })
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let requested = hello
            .server_name()
            .and_then(|name| DnsName::try_from(name).ok())
            .map(|name| ServerName::DnsName(name.to_owned()));
        requested
            .and_then(|name| self.covering(&name))
            .or_else(|| self.certificates.first())
            .cloned()
    }
}
