//! Route conditions on verified claims, beyond scopes: `claim_equals` and
//! `claim_contains`, decided by the library's [`ClaimMatch`].

use portcullis_jwt::{ClaimMatch, ClaimPath, Claims};
use serde_json::Value;

/// Whether every `claim_equals` and `claim_contains` condition holds.
///
/// Each names its claim by a top-level name or a JSON Pointer (`/realm_access/roles`);
/// [`ClaimMatch`] says how each compares (a claim that is absent satisfies neither).
pub(crate) fn claims_match(
    claims: &Claims,
    equals: &[(ClaimPath, Value)],
    contains: &[(ClaimPath, Value)],
) -> bool {
    conditions(equals, contains)
        .all(|(matching, path, wanted)| matching.holds(claims, path, wanted))
}

/// Every condition of a route, `claim_equals` first, in the order configured.
pub(crate) fn conditions<'r>(
    equals: &'r [(ClaimPath, Value)],
    contains: &'r [(ClaimPath, Value)],
) -> impl Iterator<Item = (ClaimMatch, &'r ClaimPath, &'r Value)> {
    let equals = equals
        .iter()
        .map(|(path, wanted)| (ClaimMatch::Equals, path, wanted));
    let contains = contains
        .iter()
        .map(|(path, wanted)| (ClaimMatch::Contains, path, wanted));
    equals.chain(contains)
}
