//! feedpipe stages: classify, tag and rate. Each stage is one module behind
//! [`feedpipe_pipeline::Stage`]:
//!
//! - [`ClassifyStage`] turns each new record into an Address, Host, URL or File indicator, or
//!   rejects it with a stable code (`missing_field`, `invalid_ip`, `invalid_hash`,
//!   `invalid_mask`, `wildcard_mask`, `not_an_object`);
//! - [`TagStage`] adds the feed's catalog tags and the values of its tag fields;
//! - [`RateStage`] sets threat rating, confidence, first and last seen, and writes every other
//!   field of the record as an attribute, as configured by [`RateConfig`].
//!
//! [`standard_stages`] returns the three in the order a run applies them.

pub mod address;
pub mod classify;
pub mod config;
pub mod dates;
pub mod fields;
pub mod hash;
pub mod key;
pub mod mask;
pub mod rate;
pub mod reject;
pub mod render;
pub mod tag;
pub mod text;

#[cfg(test)]
mod testing;

use feedpipe_pipeline::Stage;

pub use classify::ClassifyStage;
pub use config::{RateConfig, RateConfigError};
pub use rate::RateStage;
pub use reject::ClassifyError;
pub use tag::TagStage;

/// Builds classify, tag and rate, in that order, checking `config` first.
pub fn standard_stages(config: RateConfig) -> Result<Vec<Box<dyn Stage>>, RateConfigError> {
    Ok(vec![
        Box::new(ClassifyStage::new()),
        Box::new(TagStage::new()),
        Box::new(RateStage::new(config)?),
    ])
}

#[cfg(test)]
mod tests {
    use feedpipe_pipeline::{IndicatorType, ItemState};

    use super::*;
    use crate::testing::item;

    #[test]
    fn standard_stages_run_in_order() {
        let stages = standard_stages(RateConfig::default()).unwrap();
        let names: Vec<&str> = stages.iter().map(|stage| stage.name()).collect();
        assert_eq!(names, ["classify", "tag", "rate"]);

        let mut batch = [
            item(
                "IP Reputation",
                r#"{"ip": "1.2.3.4", "category": "spam", "popularity": 2, "threat_score": 74}"#,
            ),
            item("IP Reputation", r#"{"ip": "1.2.3"}"#),
        ];
        for stage in &stages {
            stage.process(&mut batch);
        }

        let ItemState::Indicator(indicator) = &batch[0].state else {
            panic!("expected an indicator, got {:?}", batch[0].state);
        };
        assert_eq!(indicator.indicator_type, IndicatorType::Address);
        assert_eq!(indicator.rating, 4);
        assert_eq!(indicator.confidence, 74);
        let tags: Vec<&str> = indicator.tags.iter().map(|tag| tag.name.as_ref()).collect();
        assert_eq!(tags, ["Kaspersky", "IP_Reputation", "spam"]);
        assert!(
            matches!(&batch[1].state, ItemState::Rejected(reject) if reject.code == "invalid_ip")
        );
    }

    #[test]
    fn standard_stages_check_config() {
        let config = RateConfig {
            default_confidence: 200,
            ..RateConfig::default()
        };
        assert!(standard_stages(config).is_err());
    }
}
