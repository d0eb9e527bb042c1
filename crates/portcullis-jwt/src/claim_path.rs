//! Naming a claim: a top-level member name, or a JSON Pointer (RFC 6901) into nested
//! claims.

use std::fmt;

use crate::error::ConfigError;

/// The longest claim path accepted, in bytes.
pub const MAX_CLAIM_PATH: usize = 256;
/// The most reference tokens (levels) a JSON Pointer may have.
pub const MAX_CLAIM_PATH_DEPTH: usize = 16;

/// Where a claim is: a top-level member (`tenant`), or, written with a leading `/`, a
/// JSON Pointer (RFC 6901) into the payload (`/realm_access/roles`, `/cognito:groups`).
///
/// A text without a leading `/` always names a top-level member, whatever it contains:
/// `realm_access.roles` is a member with a dot in its name, never a path. In a pointer,
/// `~1` stands for `/` and `~0` for `~` within a name, as RFC 6901 §3 says.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ClaimPath {
    text: Box<str>,
}

impl ClaimPath {
    /// Checks `text`: not empty, at most [`MAX_CLAIM_PATH`] bytes, no control
    /// characters; a pointer has at most [`MAX_CLAIM_PATH_DEPTH`] levels and no `~` but
    /// in `~0` and `~1`.
    ///
    /// # Errors
    /// What is wrong with the text.
    pub fn parse(text: &str) -> Result<ClaimPath, ConfigError> {
        if text.is_empty() {
            return Err(ConfigError::new("an empty claim name"));
        }
        if text.len() > MAX_CLAIM_PATH {
            return Err(ConfigError::new(format!(
                "a claim path longer than {MAX_CLAIM_PATH} bytes"
            )));
        }
        if text.chars().any(char::is_control) {
            return Err(ConfigError::new("a claim path with a control character"));
        }
        if let Some(pointer) = text.strip_prefix('/') {
            if pointer.split('/').count() > MAX_CLAIM_PATH_DEPTH {
                return Err(ConfigError::new(format!(
                    "a JSON Pointer deeper than {MAX_CLAIM_PATH_DEPTH} levels"
                )));
            }
            let mut bytes = pointer.bytes();
            while let Some(b) = bytes.next() {
                if b == b'~' && !matches!(bytes.next(), Some(b'0' | b'1')) {
                    return Err(ConfigError::new(format!(
                        "{text:?}: in a JSON Pointer, `~` is written `~0` and `/` in a name `~1` (RFC 6901)"
                    )));
                }
            }
        }
        Ok(ClaimPath { text: text.into() })
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the path is a JSON Pointer (it starts with `/`).
    pub fn is_pointer(&self) -> bool {
        self.text.starts_with('/')
    }

    /// The top-level member the path starts at (unescaped), and the rest of the pointer
    /// (`""` when the path names a top-level member).
    pub(crate) fn split_first(&self) -> (std::borrow::Cow<'_, str>, &str) {
        match self.text.strip_prefix('/') {
            None => (std::borrow::Cow::Borrowed(&self.text), ""),
            Some(pointer) => {
                let (first, rest) = match pointer.find('/') {
                    Some(i) => (&pointer[..i], &pointer[i..]),
                    None => (pointer, ""),
                };
                let first = if first.contains('~') {
                    std::borrow::Cow::Owned(first.replace("~1", "/").replace("~0", "~"))
                } else {
                    std::borrow::Cow::Borrowed(first)
                };
                (first, rest)
            }
        }
    }
}

impl fmt::Debug for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

impl fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for ClaimPath {
    type Err = ConfigError;
    fn from_str(text: &str) -> Result<ClaimPath, ConfigError> {
        ClaimPath::parse(text)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn names_and_pointers() {
        let name = ClaimPath::parse("realm_access.roles").unwrap();
        assert!(!name.is_pointer());
        assert_eq!(name.split_first(), ("realm_access.roles".into(), ""));
        let pointer = ClaimPath::parse("/realm_access/roles").unwrap();
        assert!(pointer.is_pointer());
        assert_eq!(pointer.split_first(), ("realm_access".into(), "/roles"));
        let escaped = ClaimPath::parse("/a~1b~0c/d").unwrap();
        assert_eq!(escaped.split_first(), ("a/b~c".into(), "/d"));
        assert_eq!(
            ClaimPath::parse("/cognito:groups").unwrap().split_first(),
            ("cognito:groups".into(), "")
        );
        assert_eq!(
            ClaimPath::parse("/").unwrap().split_first(),
            ("".into(), "")
        );
    }

    #[test]
    fn refused_paths() {
        for bad in ["", "/a~2", "/a~", "a\nb", "/\u{0}"] {
            assert!(ClaimPath::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ClaimPath::parse(&"a".repeat(MAX_CLAIM_PATH + 1)).is_err());
        assert!(ClaimPath::parse(&"/a".repeat(MAX_CLAIM_PATH_DEPTH)).is_ok());
        assert!(ClaimPath::parse(&"/a".repeat(MAX_CLAIM_PATH_DEPTH + 1)).is_err());
        // `~` is an ordinary character in a top-level name.
        assert!(ClaimPath::parse("a~2").is_ok());
    }
}
