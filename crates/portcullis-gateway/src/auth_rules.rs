//! Route conditions on verified claims, beyond scopes.

use portcullis_jwt::{ClaimPath, Claims};
use serde_json::Value;

/// Whether every `claim_equals` and `claim_contains` condition holds.
///
/// Each names its claim by a top-level name or a JSON Pointer (`/realm_access/roles`).
/// `claim_equals`: JSON equality (`"1"` is not `1`). `claim_contains`: the claim is an
/// array containing the value, or a space-separated string containing it as a word.
/// A claim that is absent satisfies neither.
pub(crate) fn claims_match(
    claims: &Claims,
    equals: &[(ClaimPath, Value)],
    contains: &[(ClaimPath, Value)],
) -> bool {
    conditions_hold(|path| claims.lookup(path), equals, contains)
}

/// [`claims_match`] on claims read by `lookup` (`explain` reads unverified ones).
pub(crate) fn conditions_hold<'c>(
    lookup: impl Fn(&ClaimPath) -> Option<&'c Value>,
    equals: &[(ClaimPath, Value)],
    contains: &[(ClaimPath, Value)],
) -> bool {
    equals
        .iter()
        .all(|(path, expected)| lookup(path) == Some(expected))
        && contains.iter().all(|(path, expected)| match lookup(path) {
            Some(Value::Array(items)) => items.contains(expected),
            Some(Value::String(text)) => expected
                .as_str()
                .is_some_and(|wanted| text.split(' ').any(|word| word == wanted)),
            _ => false,
        })
}
