//! Why a configuration was refused.

use std::fmt;

/// Why a configuration was refused: the file, the key path and what is wrong.
#[derive(Clone, Debug)]
pub struct ConfigFileError {
    file: String,
    pub(super) path: String,
    pub(super) message: String,
}

impl ConfigFileError {
    pub(crate) fn new(path: impl Into<String>, message: impl Into<String>) -> ConfigFileError {
        ConfigFileError {
            file: String::new(),
            path: path.into(),
            message: message.into(),
        }
    }

    pub(crate) fn in_file(mut self, file: &str) -> ConfigFileError {
        self.file = file.to_owned();
        self
    }

    /// The file the configuration came from.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The key path of the offending value, such as `routes[2].scopes_all[0]`; empty
    /// when the error is about the whole file (a TOML syntax error names a line instead).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.file.is_empty(), self.path.is_empty()) {
            (false, false) => write!(f, "{}: {}: {}", self.file, self.path, self.message),
            (false, true) => write!(f, "{}: {}", self.file, self.message),
            (true, false) => write!(f, "{}: {}", self.path, self.message),
            (true, true) => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ConfigFileError {}

/// A key path, spelled as `serde_path_to_error` spells the ones it records
/// (`routes[2].scopes_all[0]`), for the checks that relate several keys.
#[derive(Clone, Debug)]
pub(crate) struct KeyPath(String);

impl KeyPath {
    pub(crate) fn new(path: impl Into<String>) -> KeyPath {
        KeyPath(path.into())
    }

    /// The key `key` of the table at this path.
    pub(crate) fn key(&self, key: &str) -> KeyPath {
        match self.0.as_str() {
            "" => KeyPath::new(key),
            path => KeyPath(format!("{path}.{key}")),
        }
    }

    /// The `index`th element of the array at this path.
    pub(crate) fn index(&self, index: usize) -> KeyPath {
        KeyPath(format!("{}[{index}]", self.0))
    }

    /// `message`, about the value at this path.
    pub(crate) fn error(&self, message: impl Into<String>) -> ConfigFileError {
        ConfigFileError::new(self.0.clone(), message)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
