//! Strict parsing of the JWS compact serialization (RFC 7515 §7.1).

use std::cell::RefCell;
use std::fmt;

use crate::algorithm::Algorithm;
use crate::error::{Error, ErrorKind};
use crate::strict_json::{self, Malformed, Member, ObjectSink, Value};

/// The default maximum token length, in bytes: 8 KiB.
pub const DEFAULT_MAX_TOKEN_SIZE: usize = 8 * 1024;

/// What the header `typ` says the token is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenType {
    /// No `typ`.
    Absent,
    /// `at+jwt` or `application/at+jwt` (RFC 9068 §2.1), compared case-insensitively.
    AccessToken,
    /// `JWT` or `application/jwt`: a generic JWT, which could be an ID token.
    Jwt,
    /// Anything else (`dpop+jwt`, `logout+jwt`, ...): never an access token.
    Other,
}

impl TokenType {
    fn classify(typ: &str) -> TokenType {
        // RFC 7515 §4.1.9: compare case-insensitively; "application/" may be omitted.
        let bare = match typ.get(..12) {
            Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
            _ => typ,
        };
        if bare.eq_ignore_ascii_case("at+jwt") {
            TokenType::AccessToken
        } else if bare.eq_ignore_ascii_case("jwt") {
            TokenType::Jwt
        } else {
            TokenType::Other
        }
    }
}

/// The parts of the JOSE header Portcullis acts on.
#[derive(Clone, PartialEq, Eq)]
pub struct Header {
    alg: Algorithm,
    kid: Option<KeyId>,
    typ: TokenType,
}

/// The longest `kid` kept inline: longer than the 43 characters of a base64url SHA-256
/// thumbprint, the longest kind issuers commonly use.
const INLINE_KID: usize = 62;

/// A `kid`, inline when short (nearly always), so parsing a header allocates nothing.
#[derive(Clone, PartialEq, Eq)]
enum KeyId {
    Inline { bytes: [u8; INLINE_KID], len: u8 },
    Heap(Box<str>),
}

impl KeyId {
    fn new(kid: &str) -> KeyId {
        let mut bytes = [0; INLINE_KID];
        match (bytes.get_mut(..kid.len()), u8::try_from(kid.len())) {
            (Some(inline), Ok(len)) => {
                inline.copy_from_slice(kid.as_bytes());
                KeyId::Inline { bytes, len }
            }
            _ => KeyId::Heap(kid.into()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            // Always UTF-8: copied from a `str`, cut at its end.
            KeyId::Inline { bytes, len } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            KeyId::Heap(kid) => kid,
        }
    }
}

/// The longest signature kept inline: an RSA-4096 signature. Larger ones (RSA up to
/// 8192 bits) go to the heap.
const INLINE_SIGNATURE: usize = 512;

/// A decoded signature, inline when it fits.
// Inline on purpose: it saves an allocation per token; the rare heap case pays nothing
// for the unused space beyond the move.
#[allow(clippy::large_enum_variant)]
enum Signature {
    Inline {
        bytes: [u8; INLINE_SIGNATURE],
        len: usize,
    },
    Heap(Vec<u8>),
}

impl Signature {
    fn decode(segment: &str) -> Result<Signature, Error> {
        if decoded_len(segment) <= INLINE_SIGNATURE {
            let mut bytes = [0; INLINE_SIGNATURE];
            let len = decode_into(segment, &mut bytes)?;
            Ok(Signature::Inline { bytes, len })
        } else {
            decode_segment(segment).map(Signature::Heap)
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Signature::Inline { bytes, len } => bytes.get(..*len).unwrap_or_default(),
            Signature::Heap(bytes) => bytes,
        }
    }
}

impl Header {
    /// The `alg` the token claims. It selects nothing by itself: it must be in the
    /// configured allow-list and supported by the key.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The `kid`, if present.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_ref().map(KeyId::as_str)
    }

    /// What `typ` says.
    pub fn token_type(&self) -> TokenType {
        self.typ
    }
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Header")
            .field("alg", &self.alg)
            .field("kid", &self.kid())
            .field("typ", &self.typ)
            .finish()
    }
}

#[derive(Default)]
struct HeaderSink {
    alg: Option<Result<Algorithm, ErrorKind>>,
    kid: Option<Result<KeyId, ()>>,
    typ: Option<Result<TokenType, ()>>,
    unsupported: bool,
}

impl<'de> ObjectSink<'de> for HeaderSink {
    fn member(&mut self, name: &str, value: Value<'_, 'de>) -> Result<(), Malformed> {
        match name {
            "alg" => {
                self.alg = Some(match value.read()? {
                    Member::Str(s) => {
                        Algorithm::from_name(&s).ok_or(ErrorKind::UnsupportedAlgorithm)
                    }
                    _ => Err(ErrorKind::Malformed),
                });
            }
            "kid" => {
                self.kid = Some(match value.read()? {
                    Member::Str(s) => Ok(KeyId::new(&s)),
                    _ => Err(()),
                });
            }
            "typ" => {
                self.typ = Some(match value.read()? {
                    Member::Str(s) => Ok(TokenType::classify(&s)),
                    _ => Err(()),
                });
            }
            // We implement no JWS extension (RFC 7515 §4.1.11), and unencoded payloads
            // (RFC 7797) are out of the question for access tokens.
            "crit" | "b64" => {
                value.skip()?;
                self.unsupported = true;
            }
            // `jwk`, `jku`, `x5u`, `x5c` and the rest are never used to find a key.
            _ => value.skip()?,
        }
        Ok(())
    }
}

/// Headers of tokens whose signature verified, remembered per thread: an issuer signs
/// every token with the same header (`alg`, `kid`, `typ`), and parsing it (base64, JSON,
/// duplicate names) was an eighth of what verification adds to the signature check.
///
/// Parsing a header is a pure function of its bytes, so serving the remembered result
/// for the same bytes is exact. Only headers of tokens that verified are remembered
/// (never what an attacker makes up), a few per thread (key rotation, several issuers),
/// each at most [`KNOWN_HEADER_MAX`] bytes: bounded, lock-free, nothing shared.
struct KnownHeaders {
    entries: [Option<(Box<str>, Header)>; KNOWN_HEADERS],
    next: usize,
}

const KNOWN_HEADERS: usize = 4;
const KNOWN_HEADER_MAX: usize = 512;

thread_local! {
    static KNOWN_HEADERS_OF_THREAD: RefCell<KnownHeaders> = const {
        RefCell::new(KnownHeaders { entries: [None, None, None, None], next: 0 })
    };
}

fn known_header(segment: &str) -> Option<Header> {
    KNOWN_HEADERS_OF_THREAD
        .try_with(|known| {
            let known = known.try_borrow().ok()?;
            known
                .entries
                .iter()
                .flatten()
                .find(|(known, _)| **known == *segment)
                .map(|(_, header)| header.clone())
        })
        .ok()
        .flatten()
}

fn remember_header(segment: &str, header: &Header) {
    if segment.len() > KNOWN_HEADER_MAX {
        return;
    }
    let _ = KNOWN_HEADERS_OF_THREAD.try_with(|known| {
        if let Ok(mut known) = known.try_borrow_mut() {
            if known.entries.iter().flatten().any(|(k, _)| **k == *segment) {
                return;
            }
            let slot = known.next % KNOWN_HEADERS;
            known.entries[slot] = Some((segment.into(), header.clone()));
            known.next = slot + 1;
        }
    });
}

/// A compact JWS that parsed, and whose signature has not been checked yet.
///
/// Nothing in it is trustworthy. It exists so that a caller can look at the `kid` (to
/// fetch a key set, say) and then verify without parsing twice.
pub struct UnverifiedToken<'a> {
    token: &'a str,
    payload_start: usize,
    signing_input_len: usize,
    header: Header,
    /// The header was served by [`known_header`] (so it needs no remembering).
    header_known: bool,
    signature: Signature,
}

impl<'a> UnverifiedToken<'a> {
    /// Parses `token` strictly: at most `max_size` bytes (checked before any decoding),
    /// exactly three non-empty base64url segments without padding, a header that is a
    /// JSON object without duplicate members, a supported `alg`, no `crit` and no `b64`.
    ///
    /// # Errors
    /// [`ErrorKind::TooLarge`], [`ErrorKind::Encrypted`], [`ErrorKind::Malformed`],
    /// [`ErrorKind::UnsupportedAlgorithm`] or [`ErrorKind::UnsupportedHeader`].
    pub fn parse(token: &'a str, max_size: usize) -> Result<UnverifiedToken<'a>, Error> {
        if token.len() > max_size {
            return Err(Error::new(ErrorKind::TooLarge));
        }
        // The common case in SIMD passes: memchr finds the dots, and each segment's
        // alphabet is checked by the base64 decoder (or checker) that reads it anyway.
        // Whatever is off is diagnosed by `diagnose`, which scans the token the old way,
        // so refusals name the same fault first (alphabet, then dots, then the rest).
        let bytes = token.as_bytes();
        // The memchr crate's search is vectorised at run time (AVX2 where present); the
        // standard library's `find`/`rfind` go eight bytes at a time, and `rfind` crosses
        // the whole signature (342 characters for RS256).
        let Some((first, second)) = memchr::memchr(b'.', bytes)
            .zip(memchr::memrchr(b'.', bytes))
            .filter(|(first, second)| first < second)
        else {
            return Err(diagnose(bytes, not_three()));
        };
        let header_b64 = &token[..first];
        let payload_b64 = &token[first + 1..second];
        let signature_b64 = &token[second + 1..];
        // The payload is decoded only after the signature verifies; its alphabet (and a
        // third dot, which is not in it) is checked now.
        if base64_simd::URL_SAFE_NO_PAD
            .check(payload_b64.as_bytes())
            .is_err()
        {
            return Err(diagnose(bytes, not_base64url()));
        }
        if header_b64.is_empty() || payload_b64.is_empty() || signature_b64.is_empty() {
            return Err(diagnose(
                bytes,
                Error::with_detail(ErrorKind::Malformed, "empty segment"),
            ));
        }
        let (header, header_known) = match known_header(header_b64) {
            Some(header) => (header, true),
            None => (
                parse_header(header_b64).map_err(|e| diagnose(bytes, e))?,
                false,
            ),
        };
        let signature = Signature::decode(signature_b64).map_err(|e| diagnose(bytes, e))?;
        Ok(UnverifiedToken {
            token,
            payload_start: first + 1,
            signing_input_len: second,
            header,
            header_known,
            signature,
        })
    }

    /// Remembers this token's header for the next tokens on this thread: call only once
    /// its signature verified.
    pub(crate) fn remember_header(&self) {
        if !self.header_known {
            remember_header(&self.token[..self.payload_start - 1], &self.header);
        }
    }

    /// The parsed header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// `BASE64URL(header) || '.' || BASE64URL(payload)`, the bytes that were signed.
    pub fn signing_input(&self) -> &'a [u8] {
        &self.token.as_bytes()[..self.signing_input_len]
    }

    /// The decoded signature.
    pub fn signature(&self) -> &[u8] {
        self.signature.as_bytes()
    }

    /// The payload segment, still base64url-encoded.
    pub(crate) fn payload_b64(&self) -> &'a str {
        &self.token[self.payload_start..self.signing_input_len]
    }

    /// Decodes the payload without verifying anything: for routing only (choosing which
    /// issuer's rules apply by its `iss`), never for a decision.
    ///
    /// # Errors
    /// [`ErrorKind::Malformed`] if the payload is not base64url-encoded UTF-8.
    pub fn unverified_payload(&self) -> Result<String, Error> {
        let bytes = decode_segment(self.payload_b64())?;
        String::from_utf8(bytes).map_err(|_| Error::with_detail(ErrorKind::Malformed, "payload"))
    }
}

/// Hands `read` the `iss` of a compact JWS, unverified: for routing a token to the
/// issuer whose keys and rules will verify it, never for a decision. Only the payload
/// segment is decoded (on the stack for payloads up to 1 KiB), and read only as far as
/// its first top-level `iss`: the members before it are checked as they are stepped
/// over, what follows is left, with the header and the signature, to the verification
/// that follows, which parses the whole token strictly (a second `iss` refused). A
/// token is routed on the `iss` that verification would read, or refused there.
/// `Ok(None)` when the payload is a JSON object without a string `iss`.
///
/// # Errors
/// [`ErrorKind::TooLarge`] over `max_size` bytes; [`ErrorKind::Malformed`] if the token
/// has fewer than three segments, or its payload is not base64url-encoded UTF-8 that
/// starts as a JSON object, well-formed up to its `iss`.
pub fn read_unverified_issuer<T>(
    token: &str,
    max_size: usize,
    read: impl FnOnce(&str) -> T,
) -> Result<Option<T>, Error> {
    if token.len() > max_size {
        return Err(Error::new(ErrorKind::TooLarge));
    }
    // The payload is between the first two dots; the signature is not scanned (a third
    // dot in it is for the verification that follows to refuse).
    let mut segments = token.splitn(3, '.');
    let (Some(_), Some(payload_b64), Some(_)) = (segments.next(), segments.next(), segments.next())
    else {
        return Err(not_three());
    };
    let malformed = || Error::with_detail(ErrorKind::Malformed, "payload");
    with_decoded(payload_b64, |payload| {
        let payload = std::str::from_utf8(payload).map_err(|_| malformed())?;
        match strict_json::first_member(payload, "iss") {
            Ok(Some(Member::Str(iss))) => Ok(Some(read(&iss))),
            Ok(_) => Ok(None),
            Err(_) => Err(malformed()),
        }
    })
}

/// Decodes and parses a header segment: a JSON object without duplicate members, a
/// supported `alg`, no `crit`, no `b64`.
fn parse_header(header_b64: &str) -> Result<Header, Error> {
    let sink = with_decoded(header_b64, |header_json| {
        std::str::from_utf8(header_json)
            .ok()
            .and_then(|header| strict_json::parse_object(header, HeaderSink::default()))
            .ok_or(Error::with_detail(ErrorKind::Malformed, "header"))
    })?;
    if sink.unsupported {
        return Err(Error::new(ErrorKind::UnsupportedHeader));
    }
    let alg = match sink.alg {
        Some(Ok(alg)) => alg,
        Some(Err(kind)) => return Err(Error::with_detail(kind, "alg")),
        None => return Err(Error::with_detail(ErrorKind::Malformed, "alg")),
    };
    let kid = match sink.kid {
        None => None,
        Some(Ok(kid)) => Some(kid),
        Some(Err(())) => return Err(Error::with_detail(ErrorKind::Malformed, "kid")),
    };
    let typ = match sink.typ {
        None => TokenType::Absent,
        Some(Ok(typ)) => typ,
        Some(Err(())) => return Err(Error::with_detail(ErrorKind::Malformed, "typ")),
    };
    Ok(Header { alg, kid, typ })
}

impl fmt::Debug for UnverifiedToken<'_> {
    /// Never prints the token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnverifiedToken")
            .field("header", &self.header)
            .field("len", &self.token.len())
            .finish_non_exhaustive()
    }
}

fn not_three() -> Error {
    Error::with_detail(ErrorKind::Malformed, "not three segments")
}

fn not_base64url() -> Error {
    Error::with_detail(ErrorKind::Malformed, "not base64url")
}

/// Why a token is refused, in the order the checks are documented: whichever a
/// left-to-right scan meets first, a fifth dot or a byte outside the alphabet; then the
/// number of dots; for a token with both right, `otherwise` (the fault the fast path
/// met). Only refused tokens come here.
#[cold]
fn diagnose(bytes: &[u8], otherwise: Error) -> Error {
    let mut dots = 0;
    for b in bytes {
        match b {
            b'.' if dots == 4 => return Error::new(ErrorKind::Malformed),
            b'.' => dots += 1,
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' => {}
            _ => return not_base64url(),
        }
    }
    match dots {
        2 => otherwise,
        4 => Error::new(ErrorKind::Encrypted),
        _ => not_three(),
    }
}

pub(crate) fn decode_segment(segment: &str) -> Result<Vec<u8>, Error> {
    // Sized exactly, so a payload kept as a boxed `str` is not reallocated.
    let mut out = vec![0; decoded_len(segment)];
    let len = decode_into(segment, &mut out)?;
    out.truncate(len);
    Ok(out)
}

/// Hands `read` the decoded bytes of `segment`: on the stack when they fit in 1 KiB
/// (every header, most payloads), so reading a segment allocates nothing.
fn with_decoded<T>(
    segment: &str,
    read: impl FnOnce(&[u8]) -> Result<T, Error>,
) -> Result<T, Error> {
    let mut stack = [0u8; 1024];
    if decoded_len(segment) <= stack.len() {
        let len = decode_into(segment, &mut stack)?;
        read(&stack[..len])
    } else {
        read(&decode_segment(segment)?)
    }
}

/// The decoded length of unpadded base64 (for a valid length; never too small).
fn decoded_len(segment: &str) -> usize {
    segment.len() / 4 * 3 + segment.len() % 4 * 3 / 4
}

fn decode_into(segment: &str, out: &mut [u8]) -> Result<usize, Error> {
    // base64-simd asserts that `out` is large enough; refuse instead, whatever the caller.
    if out.len() < decoded_len(segment) {
        return Err(not_base64url());
    }
    // SIMD (AVX2/SSE4.1/NEON, detected at run time): every token decodes ~0.9 KB of
    // base64. Like the `base64` crate's default engine, it refuses padding and
    // non-canonical trailing bits (the property tests hold them to the same answers).
    base64_simd::URL_SAFE_NO_PAD
        .decode(segment.as_bytes(), base64_simd::Out::from_slice(out))
        .map(|decoded| decoded.len())
        .map_err(|_| not_base64url())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.c2ln", b64(header), b64(payload))
    }

    fn kind(token: &str) -> ErrorKind {
        UnverifiedToken::parse(token, DEFAULT_MAX_TOKEN_SIZE)
            .err()
            .map(|e| e.kind())
            .unwrap_or_else(|| panic!("{token} parsed"))
    }

    #[test]
    fn unverified_issuer_is_read_from_the_payload_alone() {
        let header = r#"{"alg":"RS256"}"#;
        let read = |token: &str| {
            read_unverified_issuer(token, DEFAULT_MAX_TOKEN_SIZE, str::to_owned)
                .map_err(|e| e.kind())
        };
        let iss = |payload: &str| read(&token(header, payload));
        assert_eq!(iss(r#"{"iss":"https://a"}"#), Ok(Some("https://a".into())));
        assert_eq!(
            iss(r#"{"sub":"x","iss":"h\u0074tps://a"}"#),
            Ok(Some("https://a".into()))
        );
        assert_eq!(iss(r#"{"sub":"x"}"#), Ok(None));
        assert_eq!(iss(r#"{"iss":7}"#), Ok(None));
        // Read up to the first `iss` and no further: what follows is for the routed
        // verifier's strict parse to refuse (`multi_issuer`'s tests check it does).
        assert_eq!(iss(r#"{"iss":"a","iss":"b"}"#), Ok(Some("a".into())));
        assert_eq!(
            iss(r#"{"iss":"a","x":{"y":1,"y":2}}"#),
            Ok(Some("a".into()))
        );
        assert_eq!(iss(r#"{"iss":"a",!"#), Ok(Some("a".into())));
        // Before it, every member is checked as it is stepped over.
        assert_eq!(
            iss(r#"{"x":{"y":1,"y":2},"iss":"a"}"#),
            Err(ErrorKind::Malformed)
        );
        assert_eq!(iss(r#"{"x":tru,"iss":"a"}"#), Err(ErrorKind::Malformed));
        assert_eq!(iss(r#"{"x":1}trailing"#), Ok(None));
        assert_eq!(iss(r#"["iss"]"#), Err(ErrorKind::Malformed));
        // A payload over the 1 KiB decoded on the stack.
        let long = format!(r#"{{"pad":"{}","iss":"https://a"}}"#, "p".repeat(2_000));
        assert_eq!(iss(&long), Ok(Some("https://a".into())));
        // The header is not read: whatever it says, routing only needs the payload.
        assert_eq!(
            read(&token("not json", r#"{"iss":"https://a"}"#)),
            Ok(Some("https://a".into()))
        );
        assert_eq!(read("a.b"), Err(ErrorKind::Malformed));
        assert_eq!(read("a.!!.c"), Err(ErrorKind::Malformed));
        let big = token(
            header,
            &format!(r#"{{"iss":"{}"}}"#, "i".repeat(DEFAULT_MAX_TOKEN_SIZE)),
        );
        assert_eq!(read(&big), Err(ErrorKind::TooLarge));
    }

    #[test]
    fn parses_a_well_formed_token() {
        let t = token(r#"{"alg":"RS256","kid":"k1","typ":"at+jwt"}"#, "{}");
        let parsed = UnverifiedToken::parse(&t, DEFAULT_MAX_TOKEN_SIZE).unwrap();
        assert_eq!(parsed.header().algorithm(), Algorithm::RS256);
        assert_eq!(parsed.header().kid(), Some("k1"));
        assert_eq!(parsed.header().token_type(), TokenType::AccessToken);
        assert_eq!(parsed.signature(), b"sig");
        assert_eq!(parsed.payload_b64(), b64("{}"));
        assert!(t.starts_with(std::str::from_utf8(parsed.signing_input()).unwrap()));
    }

    #[test]
    fn typ_is_case_insensitive_and_prefix_optional() {
        for (typ, expected) in [
            ("at+jwt", TokenType::AccessToken),
            ("AT+JWT", TokenType::AccessToken),
            ("application/at+jwt", TokenType::AccessToken),
            ("Application/At+JWT", TokenType::AccessToken),
            ("JWT", TokenType::Jwt),
            ("application/jwt", TokenType::Jwt),
            ("dpop+jwt", TokenType::Other),
            ("application/", TokenType::Other),
            ("", TokenType::Other),
            ("at+jwt ", TokenType::Other),
        ] {
            assert_eq!(TokenType::classify(typ), expected, "{typ:?}");
        }
    }

    #[test]
    fn refuses_wrong_shapes() {
        let h = b64(r#"{"alg":"RS256"}"#);
        let p = b64("{}");
        assert_eq!(kind(&format!("{h}.{p}")), ErrorKind::Malformed);
        assert_eq!(kind(&format!("{h}.{p}.c2ln.c2ln")), ErrorKind::Malformed);
        assert_eq!(
            kind(&format!("{h}.{p}.c2ln.c2ln.c2ln")),
            ErrorKind::Encrypted
        );
        assert_eq!(
            kind(&format!("{h}.{p}.c2ln.c2ln.c2ln.x")),
            ErrorKind::Malformed
        );
        assert_eq!(kind(&format!("{h}.{p}.")), ErrorKind::Malformed);
        assert_eq!(kind(&format!("{h}..c2ln")), ErrorKind::Malformed);
        assert_eq!(kind(&format!(".{p}.c2ln")), ErrorKind::Malformed);
        assert_eq!(kind(&format!("{h}.{p}.c2ln=")), ErrorKind::Malformed);
        assert_eq!(kind(&format!("{h}=.{p}.c2ln")), ErrorKind::Malformed);
        assert_eq!(kind(&format!("{h}.{p}.c2+n")), ErrorKind::Malformed);
        assert_eq!(kind(&format!(" {h}.{p}.c2ln")), ErrorKind::Malformed);
        assert_eq!(kind(&format!("{h}.{p}.c2ln\n")), ErrorKind::Malformed);
        assert_eq!(
            kind("{\"payload\":\"x\",\"signatures\":[]}"),
            ErrorKind::Malformed
        );
        assert_eq!(kind(""), ErrorKind::Malformed);
        // a length that is 1 mod 4 cannot be base64
        assert_eq!(kind(&format!("{h}.{p}.c")), ErrorKind::Malformed);
        // non-canonical trailing bits: "c2k" is "si", "c2l" is not canonical
        assert_eq!(kind(&format!("{h}.{p}.c2l")), ErrorKind::Malformed);
    }

    #[test]
    fn size_is_checked_first() {
        let big = "a".repeat(DEFAULT_MAX_TOKEN_SIZE + 1);
        assert_eq!(kind(&big), ErrorKind::TooLarge);
        let t = token(r#"{"alg":"RS256"}"#, "{}");
        assert_eq!(
            UnverifiedToken::parse(&t, t.len() - 1).unwrap_err().kind(),
            ErrorKind::TooLarge
        );
        assert!(UnverifiedToken::parse(&t, t.len()).is_ok());
    }

    #[test]
    fn refuses_bad_headers() {
        for (header, expected) in [
            (r#"{"alg":"none"}"#, ErrorKind::UnsupportedAlgorithm),
            (r#"{"alg":"None"}"#, ErrorKind::UnsupportedAlgorithm),
            (r#"{"alg":"RSA-OAEP"}"#, ErrorKind::UnsupportedAlgorithm),
            (r#"{"alg":""}"#, ErrorKind::UnsupportedAlgorithm),
            (r#"{"alg":null}"#, ErrorKind::Malformed),
            (r#"{"alg":["RS256"]}"#, ErrorKind::Malformed),
            (r#"{"kid":"a"}"#, ErrorKind::Malformed),
            (r#"{"alg":"RS256","alg":"RS256"}"#, ErrorKind::Malformed),
            (
                r#"{"alg":"HS256","\u0061lg":"RS256"}"#,
                ErrorKind::Malformed,
            ),
            (r#"{"alg":"RS256","kid":7}"#, ErrorKind::Malformed),
            (r#"{"alg":"RS256","typ":1}"#, ErrorKind::Malformed),
            (
                r#"{"alg":"RS256","crit":["exp"]}"#,
                ErrorKind::UnsupportedHeader,
            ),
            (r#"{"alg":"RS256","crit":[]}"#, ErrorKind::UnsupportedHeader),
            (
                r#"{"alg":"RS256","b64":false}"#,
                ErrorKind::UnsupportedHeader,
            ),
            (
                r#"{"alg":"RS256","b64":true}"#,
                ErrorKind::UnsupportedHeader,
            ),
            (r#"["alg","RS256"]"#, ErrorKind::Malformed),
            (r#""RS256""#, ErrorKind::Malformed),
            (r#"{"alg":"RS256"} "#, ErrorKind::Malformed),
            (r#"{"alg":"RS256"}x"#, ErrorKind::Malformed),
            (r#"{"alg":"RS256","x":{"a":1,"a":2}}"#, ErrorKind::Malformed),
        ] {
            let t = token(header, "{}");
            let got = UnverifiedToken::parse(&t, DEFAULT_MAX_TOKEN_SIZE)
                .err()
                .map(|e| e.kind());
            if header.ends_with(' ') {
                // trailing whitespace is valid JSON
                assert!(got.is_none(), "{header}");
            } else {
                assert_eq!(got, Some(expected), "{header}");
            }
        }
    }

    #[test]
    fn header_not_utf8_is_malformed() {
        let t = format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode([0xff, 0xfe]),
            b64("{}")
        );
        assert_eq!(kind(&t), ErrorKind::Malformed);
    }

    #[test]
    fn long_kids_and_signatures_leave_the_stack_intact() {
        for kid_len in [0, 1, INLINE_KID - 1, INLINE_KID, INLINE_KID + 1, 300] {
            let kid = "k".repeat(kid_len);
            for sig_len in [
                1,
                INLINE_SIGNATURE - 1,
                INLINE_SIGNATURE,
                INLINE_SIGNATURE + 1,
                1024,
            ] {
                let sig: Vec<u8> = (0..sig_len).map(|i| i as u8).collect();
                let t = format!(
                    "{}.{}.{}",
                    b64(&format!(r#"{{"alg":"RS256","kid":"{kid}"}}"#)),
                    b64("{}"),
                    URL_SAFE_NO_PAD.encode(&sig)
                );
                let parsed = UnverifiedToken::parse(&t, DEFAULT_MAX_TOKEN_SIZE).unwrap();
                assert_eq!(parsed.header().kid(), Some(kid.as_str()));
                assert_eq!(parsed.signature(), sig);
            }
        }
        // Escaped and non-ASCII kids come back unescaped.
        let t = token(r#"{"alg":"RS256","kid":"\u00e9t\u00e9 \"k\""}"#, "{}");
        let parsed = UnverifiedToken::parse(&t, DEFAULT_MAX_TOKEN_SIZE).unwrap();
        assert_eq!(parsed.header().kid(), Some("été \"k\""));
    }

    #[test]
    fn headers_are_remembered_only_when_asked_and_only_byte_for_byte() {
        let header = r#"{"alg":"RS256","kid":"k1","typ":"at+jwt"}"#;
        let t = token(header, "{}");
        let first = UnverifiedToken::parse(&t, DEFAULT_MAX_TOKEN_SIZE).unwrap();
        assert!(!first.header_known);
        // Parsing alone remembers nothing (a forged token is parsed too).
        let again = UnverifiedToken::parse(&t, DEFAULT_MAX_TOKEN_SIZE).unwrap();
        assert!(!again.header_known);
        // After a verified signature, the same header bytes are served as parsed.
        first.remember_header();
        let second = token(header, r#"{"x":1}"#);
        let served = UnverifiedToken::parse(&second, DEFAULT_MAX_TOKEN_SIZE).unwrap();
        assert!(served.header_known);
        assert!(served.header() == first.header());
        // Any other bytes are parsed afresh, and refused as before.
        let other = token(r#"{"alg":"RS256","kid":"k2","typ":"at+jwt"}"#, "{}");
        let other = UnverifiedToken::parse(&other, DEFAULT_MAX_TOKEN_SIZE).unwrap();
        assert!(!other.header_known);
        assert_eq!(other.header().kid(), Some("k2"));
        let crit = token(
            r#"{"alg":"RS256","kid":"k1","typ":"at+jwt","crit":[]}"#,
            "{}",
        );
        assert_eq!(kind(&crit), ErrorKind::UnsupportedHeader);
        // Four are kept; a fifth replaces the oldest.
        let headers: Vec<String> = (0..5)
            .map(|i| format!(r#"{{"alg":"ES256","kid":"r{i}"}}"#))
            .collect();
        for h in &headers {
            UnverifiedToken::parse(&token(h, "{}"), DEFAULT_MAX_TOKEN_SIZE)
                .unwrap()
                .remember_header();
        }
        let known = |h: &str| {
            UnverifiedToken::parse(&token(h, "{}"), DEFAULT_MAX_TOKEN_SIZE)
                .unwrap()
                .header_known
        };
        assert!(!known(&headers[0]) && !known(header));
        assert!(headers[1..].iter().all(|h| known(h)));
        // Oversized headers are never kept.
        let long = format!(r#"{{"alg":"RS256","kid":"{}"}}"#, "k".repeat(600));
        let long_token = token(&long, "{}");
        let parsed = UnverifiedToken::parse(&long_token, DEFAULT_MAX_TOKEN_SIZE).unwrap();
        parsed.remember_header();
        assert!(!known(&long));
    }

    #[test]
    fn embedded_keys_are_ignored_not_used() {
        let t = token(
            r#"{"alg":"RS256","jwk":{"kty":"oct","k":"AAAA"},"jku":"https://evil","x5u":"https://evil","x5c":["AAAA"]}"#,
            "{}",
        );
        let parsed = UnverifiedToken::parse(&t, DEFAULT_MAX_TOKEN_SIZE).unwrap();
        assert_eq!(parsed.header().kid(), None);
    }
}
