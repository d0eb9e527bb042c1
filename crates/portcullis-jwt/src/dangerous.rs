//! Escape hatches that weaken verification. Each one is a deliberate decision that
//! should be visible in code review: that is why they live here, behind an import.

use crate::validation::ValidationBuilder;

/// Waivers of checks that are on by default.
pub trait DangerousValidation: Sized {
    /// Accepts any `iss`. Only sound when every key in the key set belongs to one
    /// issuer and nothing else signs with them.
    fn dangerous_accept_any_issuer(self) -> Self;

    /// Accepts any `aud`. A token minted for another service of the same issuer is
    /// then accepted here (RFC 8725 §3.9).
    fn dangerous_accept_any_audience(self) -> Self;
}

impl DangerousValidation for ValidationBuilder {
    fn dangerous_accept_any_issuer(self) -> Self {
        self.accept_any_issuer()
    }

    fn dangerous_accept_any_audience(self) -> Self {
        self.accept_any_audience()
    }
}
