//! A credential string that cannot leak through formatting: `Debug` and `Display` print `***`,
//! so a secret that ends up in a log line, an error or a config dump shows no characters of its
//! value. Only [`Secret::expose`] returns the text, and only the request signer calls it.

use std::fmt;

/// An access ID, secret key or API token.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a credential, trimming the surrounding whitespace that files and shells add.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into().trim().to_owned())
    }

    /// Returns the credential text, for signing and headers only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Returns whether the credential is empty after trimming.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_hides_value() {
        let secret = Secret::new("  hunter2-secret\n");
        assert_eq!(format!("{secret}"), "***");
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(format!("{:?}", Some(secret.clone())), "Some(***)");
        assert_eq!(secret.expose(), "hunter2-secret");
    }
}
