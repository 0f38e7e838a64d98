//! Reasons classify rejects a record. Each variant has a short, stable snake_case code that the run
//! summary counts, and a message that names the field and the value, so a reader of the rejects
//! file can find the cause without the record's other fields.

use feedpipe_pipeline::Reject;
use thiserror::Error;

use crate::text::quoted;

/// A record that cannot become a ThreatConnect indicator.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ClassifyError {
    /// The element is an array, string, number, boolean or null instead of an object.
    #[error("record {} is a JSON {kind}, expected an object with a key field", quoted(.value))]
    NotAnObject {
        kind: &'static str,
        /// The element as compact JSON.
        value: String,
    },

    /// None of the fields that hold the indicator value is present.
    #[error("missing field {fields}: the record has no indicator value")]
    MissingField {
        /// The expected field names, quoted, for example `"ip"`.
        fields: String,
    },

    #[error("invalid IP address {} in field \"{field}\"", quoted(.value))]
    InvalidIp { field: String, value: String },

    #[error(
        "invalid hash {} in field \"{field}\": expected {digits} hexadecimal digits",
        quoted(.value)
    )]
    InvalidHash {
        field: String,
        value: String,
        digits: usize,
    },

    #[error("invalid mask {} in field \"{field}\": {reason}", quoted(.value))]
    InvalidMask {
        field: String,
        value: String,
        reason: String,
    },

    #[error(
        "mask {} in field \"{field}\" is a wildcard pattern that ThreatConnect cannot hold as \
         an indicator",
        quoted(.value)
    )]
    WildcardMask { field: String, value: String },
}

impl ClassifyError {
    /// Returns the stable reject code counted in the run summary.
    pub fn code(&self) -> &'static str {
        match self {
            ClassifyError::NotAnObject { .. } => "not_an_object",
            ClassifyError::MissingField { .. } => "missing_field",
            ClassifyError::InvalidIp { .. } => "invalid_ip",
            ClassifyError::InvalidHash { .. } => "invalid_hash",
            ClassifyError::InvalidMask { .. } => "invalid_mask",
            ClassifyError::WildcardMask { .. } => "wildcard_mask",
        }
    }

    /// Converts the error into the ledger's reject.
    pub fn to_reject(&self) -> Reject {
        Reject::new(self.code(), self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_field_and_value() {
        let error = ClassifyError::InvalidIp {
            field: "ip".to_owned(),
            value: "1.2.3".to_owned(),
        };
        assert_eq!(error.code(), "invalid_ip");
        assert_eq!(
            error.to_string(),
            r#"invalid IP address "1.2.3" in field "ip""#
        );

        let error = ClassifyError::WildcardMask {
            field: "mask".to_owned(),
            value: "a*.example.com".to_owned(),
        };
        let reject = error.to_reject();
        assert_eq!(reject.code, "wildcard_mask");
        assert_eq!(
            reject.message,
            "mask \"a*.example.com\" in field \"mask\" is a wildcard pattern that ThreatConnect \
             cannot hold as an indicator"
        );
    }
}
