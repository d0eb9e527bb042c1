//! Conditions on one claim beyond scopes and roles: a claim equal to a value, or
//! containing one.

use serde_json::Value;

use crate::claim_path::ClaimPath;
use crate::claims::Claims;

/// How a condition compares the claim a [`ClaimPath`] names with a wanted value (the
/// gateway's `claim_equals` and `claim_contains`). A claim that is absent meets
/// neither. [`Explanation::claim_condition`](crate::Explanation::claim_condition) says
/// in plain words why a token meets one or not.
///
/// ```
/// use portcullis_jwt::{ClaimMatch, ClaimPath};
/// use serde_json::json;
///
/// let groups = json!(["dev", "ops"]);
/// assert!(ClaimMatch::Contains.matches(Some(&groups), &json!("ops")));
/// assert!(ClaimMatch::Contains.matches(Some(&json!("read ops")), &json!("ops")));
/// assert!(!ClaimMatch::Equals.matches(Some(&json!("1")), &json!(1)));
/// assert!(!ClaimMatch::Equals.matches(None, &json!(null)));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClaimMatch {
    /// The claim equals the value, as JSON (`"1"` is not `1`).
    Equals,
    /// The claim is an array containing the value, or a space-delimited string
    /// containing it as a word.
    Contains,
}

impl ClaimMatch {
    /// The condition's name in configuration: `claim_equals` or `claim_contains`.
    pub const fn name(self) -> &'static str {
        match self {
            ClaimMatch::Equals => "claim_equals",
            ClaimMatch::Contains => "claim_contains",
        }
    }

    /// Whether `claims` meet the condition on the claim at `path`.
    pub fn holds(self, claims: &Claims, path: &ClaimPath, wanted: &Value) -> bool {
        self.matches(claims.lookup(path), wanted)
    }

    /// Whether a claim's value (`None`: the claim is absent) meets the condition.
    pub fn matches(self, found: Option<&Value>, wanted: &Value) -> bool {
        match (self, found) {
            (_, None) => false,
            (ClaimMatch::Equals, Some(value)) => value == wanted,
            (ClaimMatch::Contains, Some(Value::Array(items))) => items.contains(wanted),
            (ClaimMatch::Contains, Some(Value::String(text))) => wanted
                .as_str()
                .is_some_and(|word| text.split(' ').any(|w| w == word)),
            (ClaimMatch::Contains, Some(_)) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn contains_reads_arrays_and_words_only() {
        let wanted = json!("ops");
        for (found, holds) in [
            (json!(["ops"]), true),
            (json!("dev ops"), true),
            (json!("devops"), false),
            (json!({"ops": true}), false),
            (json!(["op", ["ops"]]), false),
            (json!(null), false),
        ] {
            assert_eq!(
                ClaimMatch::Contains.matches(Some(&found), &wanted),
                holds,
                "{found}"
            );
        }
        // A non-string value is never a word of a string.
        assert!(!ClaimMatch::Contains.matches(Some(&json!("1 2")), &json!(1)));
        assert!(ClaimMatch::Contains.matches(Some(&json!([1, 2])), &json!(1)));
    }

    #[test]
    fn equals_is_json_equality() {
        assert!(ClaimMatch::Equals.matches(Some(&json!({"a": [1]})), &json!({"a": [1]})));
        assert!(!ClaimMatch::Equals.matches(Some(&json!(1.0)), &json!(1)));
        assert!(!ClaimMatch::Equals.matches(None, &json!(null)));
    }
}
