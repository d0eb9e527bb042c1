//! OAuth 2.0 scopes (RFC 6749 §3.3) and requirements on them.

use std::fmt;

/// The scopes a token grants: a set of scope tokens, sorted and deduplicated.
///
/// Built from the `scope` claim (a space-delimited string) or `scp` (an array of
/// strings, or a string). A malformed value grants nothing at all: a scope list with a
/// tab, a comma, an empty token (two spaces, a leading or trailing space), a quote, a
/// backslash or a non-ASCII character is treated as empty, never partly honoured.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Scopes {
    /// The scope tokens, sorted, deduplicated and joined by single spaces: one
    /// allocation for the whole set (a token's scopes are built on every verification).
    sorted: Box<str>,
    len: usize,
}

/// Scope lists up to this long are sorted on the stack.
const STACK_SCOPES: usize = 32;

impl Scopes {
    /// No scopes.
    pub fn empty() -> Scopes {
        Scopes::default()
    }

    /// Parses a space-delimited scope string. Malformed input yields the empty set.
    pub fn parse(scope: &str) -> Scopes {
        let bytes = scope.as_bytes();
        // It runs on every verification: one vectorised pass over the bytes, then one
        // over the tokens, in which an empty token is two spaces in a row.
        if bytes.first().is_none_or(|&b| b == b' ')
            || bytes.last() == Some(&b' ')
            || !all_scope_bytes_or_spaces(bytes)
        {
            return Scopes::empty();
        }
        let mut len = 0;
        let mut sorted_unique = true;
        let mut previous = "";
        for token in split_valid(scope) {
            if token.is_empty() {
                return Scopes::empty();
            }
            // Issuers often send the list sorted already: then it is the set as it stands.
            sorted_unique &= len == 0 || previous < token;
            previous = token;
            len += 1;
        }
        if sorted_unique {
            return Scopes {
                sorted: scope.into(),
                len,
            };
        }
        Scopes::from_valid(split_valid(scope), len)
    }

    /// Builds the set from individual scope tokens (an `scp` array). If any token is
    /// not a valid scope token, the result is empty.
    pub fn from_tokens<I, S>(tokens: I) -> Scopes
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let tokens: Vec<S> = tokens.into_iter().collect();
        if tokens.iter().any(|t| !is_scope_token(t.as_ref())) {
            return Scopes::empty();
        }
        Scopes::from_valid(tokens.iter().map(AsRef::as_ref), tokens.len())
    }

    /// The set of `count` valid scope tokens.
    fn from_valid<'a>(tokens: impl Iterator<Item = &'a str>, count: usize) -> Scopes {
        fn build(list: &mut [&str]) -> Scopes {
            list.sort_unstable();
            // Exactly sized (before deduplication), so boxing it does not reallocate.
            let size = list
                .iter()
                .map(|t| t.len() + 1)
                .sum::<usize>()
                .saturating_sub(1);
            let mut sorted = String::with_capacity(size);
            let mut len = 0;
            let mut previous: Option<&str> = None;
            for &token in list.iter() {
                if previous == Some(token) {
                    continue;
                }
                if len > 0 {
                    sorted.push(' ');
                }
                sorted.push_str(token);
                previous = Some(token);
                len += 1;
            }
            Scopes {
                sorted: sorted.into_boxed_str(),
                len,
            }
        }
        if count <= STACK_SCOPES {
            let mut stack = [""; STACK_SCOPES];
            let mut n = 0;
            for (slot, token) in stack.iter_mut().zip(tokens) {
                *slot = token;
                n += 1;
            }
            build(&mut stack[..n])
        } else {
            build(&mut tokens.collect::<Vec<_>>())
        }
    }

    /// Whether the set holds `scope`.
    pub fn contains(&self, scope: &str) -> bool {
        // Sorted: stop at the first token past it.
        for held in self.iter() {
            match held.cmp(scope) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => return true,
                std::cmp::Ordering::Greater => return false,
            }
        }
        false
    }

    /// The scopes, in sorted order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        // `split` of an empty string yields one empty item; the empty set yields none.
        self.sorted.split(' ').filter(|_| self.len > 0)
    }

    /// The number of scopes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no scope is granted.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl fmt::Display for Scopes {
    /// The space-delimited form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sorted)
    }
}

/// Whether every byte is a scope-token byte or a space: branch-free in fixed-size chunks,
/// which the compiler vectorises.
fn all_scope_bytes_or_spaces(bytes: &[u8]) -> bool {
    let allowed = |b: u8| u8::from(is_scope_byte(b) | (b == b' '));
    let mut ok = 1;
    let mut chunks = bytes.chunks_exact(16);
    for chunk in &mut chunks {
        ok &= chunk.iter().fold(1, |acc, &b| acc & allowed(b));
    }
    ok &= chunks
        .remainder()
        .iter()
        .fold(1, |acc, &b| acc & allowed(b));
    ok == 1
}

/// The space-separated tokens of `scope` (an empty one for two spaces in a row).
/// Simpler, and on short strings several times cheaper, than `str::split`.
fn split_valid(scope: &str) -> impl Iterator<Item = &str> {
    let mut rest = scope;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = rest.bytes().position(|b| b == b' ').unwrap_or(rest.len());
        let token = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or_default();
        Some(token)
    })
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`, narrowed by one
/// character: a comma is refused, because `"read,write"` is a misconfigured list far more
/// often than a scope name, and guessing would grant the wrong thing.
pub fn is_scope_token(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(is_scope_byte)
}

/// `%x21 / %x23-2B / %x2D-5B / %x5D-7E`: printable ASCII but space, `"`, `,` and `\`.
fn is_scope_byte(b: u8) -> bool {
    (b.wrapping_sub(0x21) < 0x5E) & (b != b'"') & (b != b',') & (b != b'\\')
}

/// What a route requires of a token's scopes.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ScopeRequirement {
    mode: Mode,
    scopes: Box<[Box<str>]>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Mode {
    AllOf,
    AnyOf,
}

impl ScopeRequirement {
    /// Every listed scope must be granted. An empty list is always satisfied.
    ///
    /// # Errors
    /// If a listed scope is not a valid scope token.
    pub fn all_of<I, S>(scopes: I) -> Result<ScopeRequirement, crate::ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        ScopeRequirement::new(Mode::AllOf, scopes)
    }

    /// At least one listed scope must be granted.
    ///
    /// # Errors
    /// If the list is empty (nothing could satisfy it) or a scope is not a valid token.
    pub fn any_of<I, S>(scopes: I) -> Result<ScopeRequirement, crate::ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        ScopeRequirement::new(Mode::AnyOf, scopes)
    }

    fn new<I, S>(mode: Mode, scopes: I) -> Result<ScopeRequirement, crate::ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut list: Vec<Box<str>> = Vec::new();
        for scope in scopes {
            let scope = scope.as_ref();
            if !is_scope_token(scope) {
                return Err(crate::ConfigError::new(format!(
                    "{scope:?} is not a valid scope token (RFC 6749 §3.3)"
                )));
            }
            if !list.iter().any(|s| s.as_ref() == scope) {
                list.push(scope.into());
            }
        }
        if mode == Mode::AnyOf && list.is_empty() {
            return Err(crate::ConfigError::new(
                "an any-of scope requirement needs at least one scope",
            ));
        }
        Ok(ScopeRequirement {
            mode,
            scopes: list.into_boxed_slice(),
        })
    }

    /// Whether `granted` satisfies the requirement.
    pub fn is_satisfied_by(&self, granted: &Scopes) -> bool {
        match self.mode {
            Mode::AllOf => self.scopes.iter().all(|s| granted.contains(s)),
            Mode::AnyOf => self.scopes.iter().any(|s| granted.contains(s)),
        }
    }

    /// Whether every listed scope is needed (all-of) rather than any one (any-of).
    pub fn requires_all(&self) -> bool {
        self.mode == Mode::AllOf
    }

    /// The listed scopes, in the order given.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scopes.iter().map(AsRef::as_ref)
    }

    /// The space-delimited list, as the `scope` auth-param of an RFC 6750
    /// `insufficient_scope` challenge expects it.
    pub fn to_scope_string(&self) -> String {
        self.scopes
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<&str>>()
            .join(" ")
    }
}

impl fmt::Debug for ScopeRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.mode {
            Mode::AllOf => "AllOf",
            Mode::AnyOf => "AnyOf",
        };
        f.debug_tuple(name).field(&self.scopes).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_space_delimited_scopes() {
        let scopes = Scopes::parse("write read  ".trim_end());
        assert_eq!(scopes.iter().collect::<Vec<_>>(), ["read", "write"]);
        assert!(scopes.contains("read"));
        assert!(!scopes.contains("rea"));
        assert_eq!(Scopes::parse("a a b").len(), 2);
        assert_eq!(Scopes::parse("api:read https://x/y!").len(), 2);
        // Sorted already, or not; duplicates anywhere.
        for (text, expected) in [
            ("a b c", vec!["a", "b", "c"]),
            ("c b a", vec!["a", "b", "c"]),
            ("b a b", vec!["a", "b"]),
            ("a a", vec!["a"]),
            ("a", vec!["a"]),
            ("", vec![]),
        ] {
            let scopes = Scopes::parse(text);
            assert_eq!(scopes.iter().collect::<Vec<_>>(), expected, "{text:?}");
            assert_eq!(scopes.len(), expected.len());
            assert_eq!(scopes.to_string(), expected.join(" "));
            assert_eq!(scopes, Scopes::from_tokens(&expected));
            for scope in &expected {
                assert!(scopes.contains(scope));
            }
            assert!(!scopes.contains("") && !scopes.contains("a b") && !scopes.contains("0"));
        }
        // The byte test is the RFC's grammar, less the comma.
        for b in 0..=255u8 {
            let rfc = matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E) && b != b',';
            assert_eq!(is_scope_byte(b), rfc, "{b:#x}");
            let text = format!("a {}", char::from(b));
            let expected = match (rfc, b == b'a') {
                (false, _) => 0,
                (true, true) => 1,
                (true, false) => 2,
            };
            assert_eq!(Scopes::parse(&text).len(), expected, "{b:#x}");
        }
        // Longer than the stack buffer.
        let many: Vec<String> = (0..100).rev().map(|i| format!("s{i:03}")).collect();
        let scopes = Scopes::parse(&many.join(" "));
        assert_eq!(scopes.len(), 100);
        assert_eq!(scopes.iter().next(), Some("s000"));
        assert!(scopes.contains("s057") && !scopes.contains("s100"));
        assert_eq!(Scopes::from_tokens(&many), scopes);
    }

    #[test]
    fn malformed_scope_strings_grant_nothing() {
        for bad in [
            "read\twrite",
            "read,write",
            "read  write",
            " read",
            "read ",
            "réad",
            "read \"write\"",
            "a\\b",
            "read\nwrite",
            "\u{0}",
        ] {
            assert!(Scopes::parse(bad).is_empty(), "{bad:?}");
        }
        assert!(Scopes::from_tokens(["read", "wri te"]).is_empty());
        assert!(Scopes::from_tokens(["read", ""]).is_empty());
        assert_eq!(Scopes::from_tokens(["read", "write"]).len(), 2);
    }

    #[test]
    fn requirements() {
        let granted = Scopes::parse("read write");
        let all = ScopeRequirement::all_of(["read", "write"]).unwrap();
        let all_admin = ScopeRequirement::all_of(["read", "admin"]).unwrap();
        let any = ScopeRequirement::any_of(["admin", "write"]).unwrap();
        assert!(all.is_satisfied_by(&granted));
        assert!(!all_admin.is_satisfied_by(&granted));
        assert!(any.is_satisfied_by(&granted));
        assert!(!any.is_satisfied_by(&Scopes::empty()));
        assert!(
            ScopeRequirement::all_of::<[&str; 0], &str>([])
                .unwrap()
                .is_satisfied_by(&Scopes::empty())
        );
        assert!(ScopeRequirement::any_of::<[&str; 0], &str>([]).is_err());
        assert!(ScopeRequirement::all_of(["a b"]).is_err());
        assert_eq!(all_admin.to_scope_string(), "read admin");
    }
}
