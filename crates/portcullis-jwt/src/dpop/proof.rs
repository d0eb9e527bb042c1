//! Reading a DPoP proof (RFC 9449 §4.2): its compact JWS shape, its header (`typ`,
//! `alg`, `jwk`) and its claims, strictly, before anything is trusted.

use std::borrow::Cow;

use crate::algorithm::Algorithm;
use crate::key::Key;
use crate::strict_json::{self, Malformed, Member, ObjectSink, Value};
use crate::token::decode_segment;

use super::error::{DpopError, DpopErrorKind};
use super::known_keys::KnownKeys;

/// The `typ` of a DPoP proof (RFC 9449 §4.2), compared case-insensitively as a media
/// type (RFC 7515 §4.1.9), with or without `application/`.
const DPOP_TYPE: &str = "dpop+jwt";

/// JWK members that hold private or symmetric key material (RFC 7518 §6.2.2, §6.3.2,
/// §6.4; RFC 8037 §2). A proof's `jwk` must carry none of them (RFC 9449 §4.3).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A proof whose shape, header and claims are readable; its signature is unchecked.
pub(super) struct ReadProof<'a> {
    pub(super) alg: Algorithm,
    pub(super) key: Key,
    /// The text of the header's `jwk` when it was parsed here (not known before), for
    /// remembering the parse once the proof verified.
    pub(super) new_jwk: Option<String>,
    pub(super) signing_input: &'a [u8],
    pub(super) signature: Vec<u8>,
    pub(super) claims: ProofClaims,
}

/// The claims of a proof, as read.
#[derive(Default)]
pub(super) struct ProofClaims {
    pub(super) jti: Option<Box<str>>,
    pub(super) htm: Option<Box<str>>,
    pub(super) htu: Option<Box<str>>,
    pub(super) iat: Option<f64>,
    pub(super) ath: Option<Box<str>>,
    pub(super) nonce: Option<Box<str>>,
    /// The first member with the wrong JSON type.
    pub(super) wrong_type: Option<&'static str>,
}

/// Reads `proof`: three base64url segments, a header naming `typ` `dpop+jwt`, a
/// supported `alg` and a public `jwk`, and a payload that is one strict JSON object.
pub(super) fn read<'a>(proof: &'a str, known: &KnownKeys) -> Result<ReadProof<'a>, DpopError> {
    let malformed = |what| DpopError::about(DpopErrorKind::Malformed, what);
    let mut segments = proof.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(malformed("not three segments"));
    };
    let segment = |b64: &str, what| match decode_segment(b64) {
        Ok(bytes) if !bytes.is_empty() => Ok(bytes),
        _ => Err(malformed(what)),
    };
    let header = segment(header_b64, "header")?;
    let payload = segment(payload_b64, "payload")?;
    let signature = segment(signature_b64, "signature")?;
    let header = std::str::from_utf8(&header).map_err(|_| malformed("header"))?;
    let payload = std::str::from_utf8(&payload).map_err(|_| malformed("payload"))?;

    let header = strict_json::parse_object(header, HeaderSink::default())
        .ok_or_else(|| malformed("header"))?;
    if header.unsupported {
        return Err(malformed("crit"));
    }
    match header.typ {
        Some(Some(typ)) if is_dpop_type(&typ) => {}
        Some(_) => return Err(DpopError::about(DpopErrorKind::InvalidType, "typ")),
        None => return Err(DpopError::about(DpopErrorKind::MissingClaim, "typ")),
    }
    let alg = match header.alg {
        Some(Some(alg)) if !alg.is_symmetric() => alg,
        Some(_) => return Err(DpopError::about(DpopErrorKind::AlgorithmNotAllowed, "alg")),
        None => return Err(DpopError::about(DpopErrorKind::MissingClaim, "alg")),
    };
    let (key, new_jwk) = match header.jwk {
        Some(Some(jwk)) => match known.get(jwk) {
            Some(key) => (key, None),
            None => (public_key(jwk)?, Some(jwk.to_owned())),
        },
        Some(None) => return Err(DpopError::about(DpopErrorKind::InvalidKey, "jwk")),
        None => return Err(DpopError::about(DpopErrorKind::MissingClaim, "jwk")),
    };
    let claims = strict_json::parse_object(payload, ProofClaims::default())
        .ok_or_else(|| malformed("payload"))?;
    Ok(ReadProof {
        alg,
        key,
        new_jwk,
        signing_input: &proof.as_bytes()[..header_b64.len() + 1 + payload_b64.len()],
        signature,
        claims,
    })
}

fn is_dpop_type(typ: &str) -> bool {
    let bare = match typ.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
        _ => typ,
    };
    bare.eq_ignore_ascii_case(DPOP_TYPE)
}

/// The public key of a proof's `jwk` (already checked as strict JSON, so serde_json's
/// last-one-wins reading of duplicates cannot matter).
fn public_key(jwk: &str) -> Result<Key, DpopError> {
    let invalid = DpopError::about(DpopErrorKind::InvalidKey, "jwk");
    let jwk: serde_json::Value = serde_json::from_str(jwk).map_err(|_| invalid.clone())?;
    let Some(members) = jwk.as_object() else {
        return Err(invalid);
    };
    if PRIVATE_MEMBERS
        .iter()
        .any(|name| members.contains_key(*name))
    {
        return Err(invalid);
    }
    Key::from_jwk(&jwk).map_err(|_| invalid)
}

#[derive(Default)]
struct HeaderSink<'de> {
    /// `Some(None)`: present but not a string.
    typ: Option<Option<Cow<'de, str>>>,
    /// `Some(None)`: present but not a supported algorithm.
    alg: Option<Option<Algorithm>>,
    /// `Some(None)`: present but not an object.
    jwk: Option<Option<&'de str>>,
    unsupported: bool,
}

impl<'de> ObjectSink<'de> for HeaderSink<'de> {
    fn member(&mut self, name: &str, value: Value<'_, 'de>) -> Result<(), Malformed> {
        match name {
            "typ" => {
                self.typ = Some(match value.read()? {
                    Member::Str(typ) => Some(typ),
                    _ => None,
                });
            }
            "alg" => {
                self.alg = Some(match value.read()? {
                    Member::Str(alg) => Algorithm::from_name(&alg),
                    _ => None,
                });
            }
            "jwk" => {
                let raw = value.raw()?;
                self.jwk = Some(raw.starts_with('{').then_some(raw));
            }
            "crit" | "b64" => {
                value.skip()?;
                self.unsupported = true;
            }
            _ => value.skip()?,
        }
        Ok(())
    }
}

impl<'de> ObjectSink<'de> for ProofClaims {
    fn member(&mut self, name: &str, value: Value<'_, 'de>) -> Result<(), Malformed> {
        let (slot, member): (&mut Option<Box<str>>, &'static str) = match name {
            "jti" => (&mut self.jti, "jti"),
            "htm" => (&mut self.htm, "htm"),
            "htu" => (&mut self.htu, "htu"),
            "ath" => (&mut self.ath, "ath"),
            "nonce" => (&mut self.nonce, "nonce"),
            "iat" => {
                match value.read()? {
                    Member::Number(iat) => self.iat = Some(iat),
                    _ => {
                        self.wrong_type.get_or_insert("iat");
                    }
                }
                return Ok(());
            }
            _ => return value.skip(),
        };
        match value.read()? {
            Member::Str(text) => *slot = Some(text.into()),
            _ => {
                self.wrong_type.get_or_insert(member);
            }
        }
        Ok(())
    }
}
