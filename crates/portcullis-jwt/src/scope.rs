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
    sorted: Box<[Box<str>]>,
}

impl Scopes {
    /// No scopes.
    pub fn empty() -> Scopes {
        Scopes::default()
    }

    /// Parses a space-delimited scope string. Malformed input yields the empty set.
    pub fn parse(scope: &str) -> Scopes {
        if scope.is_empty() {
            return Scopes::empty();
        }
        // One exactly sized allocation for the list, one per scope.
        let count = scope.bytes().filter(|b| *b == b' ').count() + 1;
        let mut tokens: Vec<Box<str>> = Vec::with_capacity(count);
        for token in scope.split(' ') {
            if !is_scope_token(token) {
                return Scopes::empty();
            }
            tokens.push(token.into());
        }
        Scopes::from_boxed(tokens)
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
        Scopes::from_valid(tokens.iter().map(AsRef::as_ref))
    }

    fn from_valid<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Scopes {
        Scopes::from_boxed(tokens.into_iter().map(Box::from).collect())
    }

    fn from_boxed(mut sorted: Vec<Box<str>>) -> Scopes {
        sorted.sort_unstable();
        sorted.dedup();
        Scopes {
            sorted: sorted.into_boxed_slice(),
        }
    }

    /// Whether the set holds `scope`.
    pub fn contains(&self, scope: &str) -> bool {
        self.sorted
            .binary_search_by(|held| held.as_ref().cmp(scope))
            .is_ok()
    }

    /// The scopes, in sorted order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.sorted.iter().map(AsRef::as_ref)
    }

    /// The number of scopes.
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// Whether no scope is granted.
    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
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
        for (i, scope) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope)?;
        }
        Ok(())
    }
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`, narrowed by one
/// character: a comma is refused, because `"read,write"` is a misconfigured list far more
/// often than a scope name, and guessing would grant the wrong thing.
pub fn is_scope_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x2B | 0x2D..=0x5B | 0x5D..=0x7E))
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
