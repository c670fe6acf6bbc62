//! The error of a settings file, naming the setting: the daemons'
//! configuration (`routing.max_hops`) and the lab's scenarios
//! (`flow[2].to`) report with the same type, so every tool words it alike.

use std::fmt;

/// A setting that cannot be used: its key (dotted, as written in the
/// file) where there is one, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyedError {
    pub key: Option<String>,
    pub message: String,
}

impl KeyedError {
    /// The setting `key` is wrong: `message` says how.
    pub fn key(key: &str, message: impl Into<String>) -> KeyedError {
        KeyedError {
            key: Some(key.to_string()),
            message: message.into(),
        }
    }

    /// The file as a whole (unreadable, not TOML): no one key to name.
    pub fn file(message: impl Into<String>) -> KeyedError {
        KeyedError {
            key: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for KeyedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(k) => write!(f, "`{k}`: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for KeyedError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_leads_the_message() {
        assert_eq!(
            KeyedError::key("routing.max_hops", "must be 1..=32, not 0").to_string(),
            "`routing.max_hops`: must be 1..=32, not 0"
        );
        assert_eq!(KeyedError::file("not TOML").to_string(), "not TOML");
    }
}
