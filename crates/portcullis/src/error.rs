//! Configuration errors.

use std::fmt;

/// A layer's configuration was refused when it was built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    message: String,
}

impl ConfigError {
    pub(crate) fn new(message: impl Into<String>) -> ConfigError {
        ConfigError {
            message: message.into(),
        }
    }

    /// What is wrong with the configuration.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl From<portcullis_jwt::ConfigError> for ConfigError {
    fn from(error: portcullis_jwt::ConfigError) -> Self {
        ConfigError::new(error.message())
    }
}
