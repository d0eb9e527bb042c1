//! RFC 7662 token introspection: the request, client authentication, and strict reading
//! of the response. The HTTP exchange and the cache live with the verifier.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

/// A client secret. Never printed: `Debug` shows `Secret(***)`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret held in memory.
    pub fn new(secret: impl Into<String>) -> Secret {
        Secret(secret.into())
    }

    /// Reads a secret from an environment variable.
    ///
    /// # Errors
    /// If the variable is unset, empty or not UTF-8 (the message names the variable,
    /// never the value).
    pub fn from_env(variable: &str) -> Result<Secret, String> {
        match std::env::var(variable) {
            Ok(value) if !value.is_empty() => Ok(Secret(value)),
            Ok(_) => Err(format!("environment variable {variable} is empty")),
            Err(_) => Err(format!("environment variable {variable} is not set")),
        }
    }

    /// Reads a secret from a file (Kubernetes and Docker secrets), dropping one trailing
    /// line break.
    ///
    /// # Errors
    /// If the file cannot be read or is empty.
    pub fn from_file(path: &Path) -> Result<Secret, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read secret file {}: {e}", path.display()))?;
        let text = text
            .strip_suffix("\r\n")
            .or_else(|| text.strip_suffix('\n'))
            .unwrap_or(&text);
        if text.is_empty() {
            return Err(format!("secret file {} is empty", path.display()));
        }
        Ok(Secret(text.to_owned()))
    }

    /// The secret itself. Handle with care.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How the resource server authenticates to the introspection endpoint.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum ClientAuth {
    /// HTTP Basic (RFC 6749 §2.3.1): client id and secret each
    /// `application/x-www-form-urlencoded`, then joined by `:` and base64-encoded.
    ClientSecretBasic {
        /// The client identifier.
        client_id: String,
        /// The client secret.
        client_secret: Secret,
    },
    /// `client_id` and `client_secret` in the form body (RFC 6749 §2.3.1).
    ClientSecretPost {
        /// The client identifier.
        client_id: String,
        /// The client secret.
        client_secret: Secret,
    },
    /// `Authorization: Bearer <token>`, a credential issued for introspection.
    Bearer(Secret),
}

impl ClientAuth {
    /// The `Authorization` header value, if this method uses one.
    pub fn authorization_header(&self) -> Option<String> {
        match self {
            ClientAuth::ClientSecretBasic {
                client_id,
                client_secret,
            } => {
                let pair = format!(
                    "{}:{}",
                    form_urlencode(client_id),
                    form_urlencode(client_secret.expose())
                );
                Some(format!("Basic {}", STANDARD.encode(pair)))
            }
            ClientAuth::Bearer(token) => Some(format!("Bearer {}", token.expose())),
            ClientAuth::ClientSecretPost { .. } => None,
        }
    }

    /// The body of an introspection request for `token`:
    /// `token=...&token_type_hint=access_token`, plus the client credentials for
    /// `client_secret_post`.
    pub fn request_body(&self, token: &str) -> String {
        let mut body = format!(
            "token={}&token_type_hint=access_token",
            form_urlencode(token)
        );
        if let ClientAuth::ClientSecretPost {
            client_id,
            client_secret,
        } = self
        {
            body.push_str("&client_id=");
            body.push_str(&form_urlencode(client_id));
            body.push_str("&client_secret=");
            body.push_str(&form_urlencode(client_secret.expose()));
        }
        body
    }
}

/// `application/x-www-form-urlencoded` encoding (WHATWG URL §5.2): alphanumerics and
/// `*-._` as they are, space as `+`, every other byte of the UTF-8 as `%XX`.
pub fn form_urlencode(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for byte in input.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(byte as char);
            }
            b' ' => out.push('+'),
            _ => {
                const HEX: &[u8; 16] = b"0123456789ABCDEF";
                out.push('%');
                out.push(HEX[usize::from(byte >> 4)] as char);
                out.push(HEX[usize::from(byte & 0xf)] as char);
            }
        }
    }
    out
}

/// What the introspection endpoint said.
#[derive(Clone, PartialEq, Eq)]
pub enum IntrospectionResponse {
    /// `"active": true`, with the whole response object as JSON, to be checked like JWT
    /// claims.
    Active(String),
    /// Anything else: `"active": false`, or `active` missing.
    Inactive,
}

impl fmt::Debug for IntrospectionResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntrospectionResponse::Active(_) => f.write_str("Active(..)"),
            IntrospectionResponse::Inactive => f.write_str("Inactive"),
        }
    }
}

/// The response body was not an RFC 7662 response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MalformedResponse(&'static str);

impl fmt::Display for MalformedResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed introspection response: {}", self.0)
    }
}

impl std::error::Error for MalformedResponse {}

/// Reads an introspection response strictly.
///
/// The token is active only if `active` is the JSON boolean `true`. `"true"`, `1` or a
/// missing member are not. Members RFC 7662 §2.2 defines as strings must be strings;
/// registered claims (`exp`, `iss`, `aud`, `scope`, ...) are checked by the same rules
/// as JWT claims afterwards. A token the server calls a refresh token is inactive here.
///
/// # Errors
/// If the body is not a JSON object, `active` is not a boolean, or a typed member has
/// the wrong type: the server is misbehaving, which the caller treats as an outage
/// (503), never as acceptance.
pub fn parse_response(body: &[u8]) -> Result<IntrospectionResponse, MalformedResponse> {
    /// A member that may be absent; `null` is present (and wrong).
    #[derive(Default)]
    enum Member {
        #[default]
        Absent,
        Present(serde_json::Value),
    }
    impl<'de> Deserialize<'de> for Member {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            serde_json::Value::deserialize(d).map(Member::Present)
        }
    }
    impl Member {
        fn as_ref(&self) -> Option<&serde_json::Value> {
            match self {
                Member::Absent => None,
                Member::Present(value) => Some(value),
            }
        }
    }
    #[derive(Deserialize)]
    struct Shape {
        #[serde(default)]
        active: Member,
        #[serde(default)]
        token_type: Member,
        #[serde(default)]
        username: Member,
    }
    let text = std::str::from_utf8(body).map_err(|_| MalformedResponse("not UTF-8"))?;
    // serde's derived structs also accept arrays (`[true]`): insist on an object.
    if !text.trim_start().starts_with('{') {
        return Err(MalformedResponse("not a JSON object"));
    }
    let shape: Shape =
        serde_json::from_str(text).map_err(|_| MalformedResponse("not a JSON object"))?;
    for member in [&shape.token_type, &shape.username] {
        if member.as_ref().is_some_and(|v| !v.is_string()) {
            return Err(MalformedResponse("a string member of another type"));
        }
    }
    let active = match shape.active {
        Member::Present(serde_json::Value::Bool(active)) => active,
        Member::Absent => false,
        Member::Present(_) => return Err(MalformedResponse("active is not a boolean")),
    };
    let refresh = shape
        .token_type
        .as_ref()
        .and_then(|v| v.as_str())
        .is_some_and(|t| t.eq_ignore_ascii_case("refresh_token"));
    Ok(if active && !refresh {
        IntrospectionResponse::Active(text.to_owned())
    } else {
        IntrospectionResponse::Inactive
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_form_encodes_before_base64() {
        let auth = ClientAuth::ClientSecretBasic {
            client_id: "my client:1".into(),
            client_secret: Secret::new("p@ss:w/rd+%é ="),
        };
        let header = auth.authorization_header().unwrap();
        let encoded = header.strip_prefix("Basic ").unwrap();
        let decoded = String::from_utf8(STANDARD.decode(encoded).unwrap()).unwrap();
        assert_eq!(decoded, "my+client%3A1:p%40ss%3Aw%2Frd%2B%25%C3%A9+%3D");
        // Exactly one unencoded colon separates id and secret.
        assert_eq!(decoded.matches(':').count(), 1);
    }

    #[test]
    fn post_auth_goes_in_the_body_and_the_token_is_encoded() {
        let auth = ClientAuth::ClientSecretPost {
            client_id: "rs".into(),
            client_secret: Secret::new("s&t=u"),
        };
        assert!(auth.authorization_header().is_none());
        assert_eq!(
            auth.request_body("a+b/c="),
            "token=a%2Bb%2Fc%3D&token_type_hint=access_token&client_id=rs&client_secret=s%26t%3Du"
        );
        let bearer = ClientAuth::Bearer(Secret::new("xyz"));
        assert_eq!(bearer.authorization_header().unwrap(), "Bearer xyz");
        assert_eq!(
            bearer.request_body("t"),
            "token=t&token_type_hint=access_token"
        );
    }

    #[test]
    fn secrets_never_print() {
        let auth = ClientAuth::ClientSecretBasic {
            client_id: "id".into(),
            client_secret: Secret::new("hunter2"),
        };
        assert!(!format!("{auth:?}").contains("hunter2"));
        assert!(
            !format!(
                "{:?}",
                IntrospectionResponse::Active("{\"sub\":\"x\"}".into())
            )
            .contains("sub")
        );
    }

    #[test]
    fn secret_from_file_drops_one_line_break() {
        let dir = std::env::temp_dir().join(format!("portcullis-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        std::fs::write(&path, "s3cret\n").unwrap();
        assert_eq!(Secret::from_file(&path).unwrap().expose(), "s3cret");
        std::fs::write(&path, "\n").unwrap();
        assert!(Secret::from_file(&path).is_err());
        assert!(Secret::from_file(&dir.join("missing")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn active_must_be_the_boolean_true() {
        let active = parse_response(br#"{"active":true,"sub":"a","scope":"read"}"#).unwrap();
        assert!(matches!(active, IntrospectionResponse::Active(json) if json.contains("read")));
        for inactive in [
            r#"{"active":false}"#,
            r#"{}"#,
            r#"{"active":true,"token_type":"refresh_token"}"#,
        ] {
            assert_eq!(
                parse_response(inactive.as_bytes()).unwrap(),
                IntrospectionResponse::Inactive,
                "{inactive}"
            );
        }
        for malformed in [
            r#"{"active":"true"}"#,
            r#"{"active":1}"#,
            r#"{"active":null}"#,
            r#"{"active":true,"active":true}"#,
            r#"{"active":true,"username":7}"#,
            r#"{"active":true,"token_type":["bearer"]}"#,
            "[true]",
            "true",
            "",
            "<html>",
        ] {
            assert!(parse_response(malformed.as_bytes()).is_err(), "{malformed}");
        }
        assert!(parse_response(&[0xff, 0xfe]).is_err());
    }
}
