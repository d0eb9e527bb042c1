//! The `cnf` claim (RFC 7800): the key a sender-constrained token is bound to.

use std::borrow::Cow;

use base64_simd::URL_SAFE_NO_PAD;

use crate::strict_json::{self, Malformed, Member, ObjectSink, Value};

/// The key a token is bound to: its `cnf` claim (RFC 7800), as far as a resource can
/// check it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Confirmation {
    /// `cnf.jkt`: bound to the DPoP key with this RFC 7638 SHA-256 thumbprint (RFC 9449
    /// §6). The client must prove it holds the key with each request.
    DpopKey([u8; 32]),
    /// `cnf.x5t#S256`: bound to the client certificate with this SHA-256 thumbprint
    /// (RFC 8705 §3.1).
    Certificate([u8; 32]),
    /// A `cnf` naming another method, both of the above, or a member that is not a
    /// base64url SHA-256 thumbprint: the token is bound, to nothing this resource can
    /// check.
    Unsupported,
}

/// Reads a `cnf` member's JSON text. `None` if it is not an object (RFC 7800 §3.1).
pub(crate) fn confirmation_of(cnf: &str) -> Option<Confirmation> {
    let sink = strict_json::parse_object(cnf, ConfirmationSink::default())?;
    Some(match (sink.jkt, sink.x5t_s256, sink.other) {
        (Some(jkt), None, false) => {
            thumbprint(&jkt).map_or(Confirmation::Unsupported, Confirmation::DpopKey)
        }
        (None, Some(x5t), false) => {
            thumbprint(&x5t).map_or(Confirmation::Unsupported, Confirmation::Certificate)
        }
        _ => Confirmation::Unsupported,
    })
}

/// A SHA-256 thumbprint in base64url without padding: exactly 43 characters.
fn thumbprint(text: &str) -> Option<[u8; 32]> {
    if text.len() != 43 {
        return None;
    }
    let mut out = [0; 32];
    let decoded = URL_SAFE_NO_PAD
        .decode(text.as_bytes(), base64_simd::Out::from_slice(&mut out))
        .ok()?;
    (decoded.len() == 32).then_some(out)
}

#[derive(Default)]
struct ConfirmationSink<'de> {
    jkt: Option<Cow<'de, str>>,
    x5t_s256: Option<Cow<'de, str>>,
    /// Another confirmation method (`jwk`, `jku`, `kid`, `x5t#S256` of another kind...),
    /// or a member above of the wrong type.
    other: bool,
}

impl<'de> ObjectSink<'de> for ConfirmationSink<'de> {
    fn member(&mut self, name: &str, value: Value<'_, 'de>) -> Result<(), Malformed> {
        let slot = match name {
            "jkt" => &mut self.jkt,
            "x5t#S256" => &mut self.x5t_s256,
            _ => {
                self.other = true;
                return value.skip();
            }
        };
        match value.read()? {
            Member::Str(text) => *slot = Some(text),
            _ => self.other = true,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JKT: &str = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";

    #[test]
    fn each_method_is_read_and_anything_else_is_unsupported() {
        let cases = [
            (format!(r#"{{"jkt":"{JKT}"}}"#), Some("dpop")),
            (format!(r#"{{"x5t#S256":"{JKT}"}}"#), Some("certificate")),
            (
                format!(r#"{{"jkt":"{JKT}","x5t#S256":"{JKT}"}}"#),
                Some("unsupported"),
            ),
            (
                format!(r#"{{"jkt":"{JKT}","kid":"k"}}"#),
                Some("unsupported"),
            ),
            (r#"{"jkt":"short"}"#.to_owned(), Some("unsupported")),
            (r#"{"jkt":7}"#.to_owned(), Some("unsupported")),
            (r#"{"jwk":{"kty":"EC"}}"#.to_owned(), Some("unsupported")),
            (r#"{}"#.to_owned(), Some("unsupported")),
            (r#""jkt""#.to_owned(), None),
            (r#"[]"#.to_owned(), None),
            (format!(r#"{{"jkt":"{JKT}","jkt":"{JKT}"}}"#), None),
        ];
        for (cnf, expected) in cases {
            let kind = confirmation_of(&cnf).map(|c| match c {
                Confirmation::DpopKey(_) => "dpop",
                Confirmation::Certificate(_) => "certificate",
                Confirmation::Unsupported => "unsupported",
            });
            assert_eq!(kind, expected, "{cnf}");
        }
    }
}
