//! Certificate-bound access tokens (RFC 8705 §3): a token whose `cnf` names the SHA-256
//! thumbprint of a client certificate (`x5t#S256`) is accepted only from a request made
//! over mutual TLS with that certificate.
//!
//! The layer reads the certificate from the request's extensions, as a
//! [`ClientCertificate`]: whatever terminated TLS puts it there. That is the server's own
//! TLS, or, behind a TLS-terminating proxy, a header only that proxy can set, read with
//! [`ClientCertificate::from_header`] by code that knows the request came from the proxy
//! (the gateway checks the peer address). A certificate-bound token on a request without
//! a certificate, or with another one, is refused with `invalid_token`: accepting it
//! would make the binding worthless.

use std::fmt;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::HeaderValue;
use portcullis_jwt::{Claims, Confirmation};

use crate::token::hex_value;

/// The client certificate a request came with over mutual TLS, as its SHA-256
/// thumbprint (over the DER encoding, as `cnf.x5t#S256` is).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ClientCertificate([u8; 32]);

/// How a TLS-terminating proxy passes the client certificate on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertificateHeaderFormat {
    /// Envoy's `x-forwarded-client-cert`: the `Hash` (hex SHA-256 of the DER) of its
    /// first element, the certificate Envoy itself verified.
    EnvoyXfcc,
    /// A URL-encoded PEM certificate: nginx's `$ssl_client_escaped_cert`, AWS ALB's
    /// `X-Amzn-Mtls-Clientcert`.
    UrlEncodedPem,
    /// The DER certificate in standard base64 (Caddy's
    /// `{http.request.tls.client.certificate_der_base64}`).
    Base64Der,
}

impl ClientCertificate {
    /// The certificate with this DER encoding.
    pub fn from_der(der: &[u8]) -> ClientCertificate {
        let digest = digest::digest(&digest::SHA256, der);
        let mut thumbprint = [0; 32];
        thumbprint.copy_from_slice(digest.as_ref());
        ClientCertificate(thumbprint)
    }

    /// The certificate with this SHA-256 thumbprint.
    pub fn from_thumbprint(thumbprint: [u8; 32]) -> ClientCertificate {
        ClientCertificate(thumbprint)
    }

    /// The certificate a trusted proxy's header names, or `None` if the value is not of
    /// the `format`. Call it only for requests that came from that proxy: anyone else can
    /// send the header too.
    pub fn from_header(format: CertificateHeaderFormat, value: &HeaderValue) -> Option<Self> {
        let text = value.to_str().ok()?;
        match format {
            CertificateHeaderFormat::EnvoyXfcc => xfcc_hash(text).map(ClientCertificate),
            CertificateHeaderFormat::UrlEncodedPem => {
                pem_der(&percent_decode(text)?).map(|der| ClientCertificate::from_der(&der))
            }
            CertificateHeaderFormat::Base64Der => STANDARD
                .decode(text.trim())
                .ok()
                .map(|der| ClientCertificate::from_der(&der)),
        }
    }

    /// The SHA-256 thumbprint.
    pub fn thumbprint(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientCertificate({})", URL_SAFE_NO_PAD.encode(self.0))
    }
}

/// The `Hash` of the first element of an `x-forwarded-client-cert` value (elements are
/// separated by `,`, pairs by `;`; quoted values may hold either).
fn xfcc_hash(text: &str) -> Option<[u8; 32]> {
    let mut quoted = false;
    let first = text
        .split(|c: char| {
            if c == '"' {
                quoted = !quoted;
            }
            c == ',' && !quoted
        })
        .next()?;
    let mut quoted = false;
    let hash = first
        .split(|c: char| {
            if c == '"' {
                quoted = !quoted;
            }
            c == ';' && !quoted
        })
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            key.eq_ignore_ascii_case("hash")
                .then_some(value.trim_matches('"'))
        })?;
    if hash.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hash.as_bytes().chunks_exact(2)) {
        let &[hi, lo] = pair else { return None };
        *byte = hex_value(hi)? << 4 | hex_value(lo)?;
    }
    Some(out)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let (&hi, &lo) = (bytes.get(i + 1)?, bytes.get(i + 2)?);
            out.push(hex_value(hi)? << 4 | hex_value(lo)?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The DER of the one certificate in a PEM text.
fn pem_der(pem: &str) -> Option<Vec<u8>> {
    let body = pem
        .trim()
        .strip_prefix("-----BEGIN CERTIFICATE-----")?
        .trim_end()
        .strip_suffix("-----END CERTIFICATE-----")?;
    let base64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(base64).ok()
}

/// Checks a verified token bound to a client certificate (RFC 8705 §3) against the
/// request's `certificate`: whatever the scheme, since a DPoP proof does not stand in
/// for it. `Err` says why, for an `invalid_token` refusal.
pub(crate) fn check(
    certificate: Option<&ClientCertificate>,
    claims: &Claims,
) -> Result<(), &'static str> {
    let Some(Confirmation::Certificate(bound)) = claims.confirmation() else {
        return Ok(());
    };
    match certificate {
        Some(certificate) if certificate.thumbprint() == bound => Ok(()),
        Some(_) => Err("certificate-bound token sent with another client certificate"),
        None => Err("certificate-bound token sent without its client certificate"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const DER: &[u8] = b"not a real certificate, but bytes all the same";

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn header(text: &str) -> HeaderValue {
        HeaderValue::from_str(text).unwrap()
    }

    #[test]
    fn every_format_names_the_same_certificate() {
        let expected = ClientCertificate::from_der(DER);
        let thumbprint = hex(expected.thumbprint());
        let xfcc = format!(
            "By=spiffe://gateway;Hash={thumbprint};Subject=\"CN=client,O=a;b\";URI=spiffe://client,By=spiffe://other;Hash={}",
            "00".repeat(32)
        );
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            STANDARD.encode(DER)
        );
        let escaped: String = pem
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        let cases = [
            (CertificateHeaderFormat::EnvoyXfcc, xfcc),
            (CertificateHeaderFormat::UrlEncodedPem, escaped),
            (CertificateHeaderFormat::Base64Der, STANDARD.encode(DER)),
        ];
        for (format, value) in cases {
            assert_eq!(
                ClientCertificate::from_header(format, &header(&value)),
                Some(expected),
                "{format:?}"
            );
        }
    }

    #[test]
    fn malformed_headers_name_no_certificate() {
        for (format, value) in [
            (
                CertificateHeaderFormat::EnvoyXfcc,
                "By=spiffe://x;URI=spiffe://y",
            ),
            (CertificateHeaderFormat::EnvoyXfcc, "Hash=abcd"),
            (
                CertificateHeaderFormat::EnvoyXfcc,
                &format!("Hash={}", "zz".repeat(32)),
            ),
            // `from_str_radix` took a sign: "+f" was read as 0x0f.
            (
                CertificateHeaderFormat::EnvoyXfcc,
                &format!("Hash={}", "+f".repeat(32)),
            ),
            (CertificateHeaderFormat::UrlEncodedPem, "%2"),
            (CertificateHeaderFormat::UrlEncodedPem, "not pem"),
            (CertificateHeaderFormat::Base64Der, "!!"),
        ] {
            assert_eq!(
                ClientCertificate::from_header(format, &header(value)),
                None,
                "{format:?} {value}"
            );
        }
    }
}
