//! Route conditions on verified claims, beyond scopes.

use portcullis_jwt::Claims;
use serde_json::Value;

/// Whether every `claim_equals` and `claim_contains` condition holds.
///
/// `claim_equals`: JSON equality (`"1"` is not `1`). `claim_contains`: the claim is an
/// array containing the value, or a space-separated string containing it as a word.
pub(crate) fn claims_match(
    claims: &Claims,
    equals: &[(String, Value)],
    contains: &[(String, Value)],
) -> bool {
    equals
        .iter()
        .all(|(name, expected)| claims.get(name) == Some(expected))
        && contains
            .iter()
            .all(|(name, expected)| match claims.get(name) {
                Some(Value::Array(items)) => items.contains(expected),
                Some(Value::String(text)) => expected
                    .as_str()
                    .is_some_and(|wanted| text.split(' ').any(|word| word == wanted)),
                _ => false,
            })
}
