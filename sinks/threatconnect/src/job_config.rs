//! The batch job configuration body, sent as `POST /v2/batch` or as the `config` part of
//! `createAndUpload`. Every job of a run carries the same settings, all from
//! [`ThreatConnectSinkConfig`]; the action is always `Create` (create or update).

use bytes::Bytes;
use serde::Serialize;

use crate::config::{AttributeWriteType, TagWriteType, ThreatConnectSinkConfig};

/// The job configuration as ThreatConnect's batch API takes it.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BatchJobConfig {
    pub version: &'static str,
    pub owner: String,
    pub halt_on_error: bool,
    pub action: &'static str,
    pub attribute_write_type: AttributeWriteType,
    pub tag_write_type: TagWriteType,
}

impl BatchJobConfig {
    pub fn from_config(config: &ThreatConnectSinkConfig) -> Self {
        BatchJobConfig {
            version: "V2",
            owner: config.owner.trim().to_owned(),
            halt_on_error: config.halt_on_error,
            action: "Create",
            attribute_write_type: config.attribute_write_type,
            tag_write_type: config.tag_write_type,
        }
    }

    /// Returns the JSON body.
    pub fn to_json(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).expect("job config serializes"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_config_matches_batch_api() {
        let config = ThreatConnectSinkConfig {
            owner: " Example Org ".to_owned(),
            attribute_write_type: AttributeWriteType::Append,
            ..ThreatConnectSinkConfig::default()
        };
        let json: serde_json::Value =
            serde_json::from_slice(&BatchJobConfig::from_config(&config).to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "version": "V2",
                "owner": "Example Org",
                "haltOnError": false,
                "action": "Create",
                "attributeWriteType": "Append",
                "tagWriteType": "Replace"
            })
        );
    }
}
