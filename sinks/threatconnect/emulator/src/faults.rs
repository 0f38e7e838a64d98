//! Deterministic fault injection: failures counted per endpoint, job delays and clock skew.
//!
//! A rule fires for the next `times` requests to its endpoint and then stays inert, so a test
//! that injects two 503s receives exactly two, whatever the timing. Nothing here is random.

use serde::{Deserialize, Serialize};

/// The API endpoints a fault rule can target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// Every endpoint under `/api`.
    Any,
    /// `POST /v2/batch`.
    Create,
    /// `POST /v2/batch/{id}`.
    Upload,
    /// `POST /v2/batch/createAndUpload`.
    CreateAndUpload,
    /// `GET /v2/batch/{id}`.
    Status,
    /// `GET /v2/batch/{id}/errors`.
    Errors,
    /// `GET /v2/batch/{id}/results`.
    Results,
    /// `GET /v2/owners`.
    Owners,
    /// `GET /v2/types/indicatorTypes[/{type}]`.
    IndicatorTypes,
    /// `GET /v3/attributeTypes`.
    AttributeTypes,
}

impl Endpoint {
    fn matches(self, endpoint: Endpoint) -> bool {
        self == Endpoint::Any || self == endpoint
    }
}

/// Value of a `Retry-After` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RetryAfter {
    /// `Retry-After: <seconds>`.
    Seconds(u64),
    /// `Retry-After: <HTTP date>`, that many seconds after the emulator clock.
    HttpDateIn(u64),
}

/// Action a fault rule takes on a matching request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultAction {
    /// Respond with this status at once, before authentication and without touching any job.
    Respond {
        status: u16,
        #[serde(default)]
        retry_after: Option<RetryAfter>,
        /// Response body; the default is a JSON failure envelope naming the status.
        #[serde(default)]
        body: Option<String>,
        /// `Content-Type` of `body`; the default is `application/json`.
        #[serde(default)]
        content_type: Option<String>,
    },
    /// Close the connection without reading the request or sending a response.
    Drop,
    /// Handle the request normally, then close the connection instead of sending a successful
    /// response; the job it created or fed is kept and processed.
    DropAfterAccept,
    /// Handle the request normally and hold the response back for this long.
    Delay { millis: u64 },
}

/// One fault: `action` for the next `times` requests to `endpoint`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRule {
    pub endpoint: Endpoint,
    pub times: u32,
    pub action: FaultAction,
}

/// The complete fault state. The admin endpoint `POST /_emulator/faults` replaces it whole.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultPlan {
    /// Rules are tried in order; the first one with `times > 0` for the endpoint fires.
    pub rules: Vec<FaultRule>,
    /// Wall time a job spends `Running` before its items are processed, in milliseconds.
    pub job_delay_millis: u64,
    /// Status polls that still report `Running` after a job has finished processing.
    pub running_polls: u32,
    /// The next this-many uploaded jobs stay `Running` for ever.
    pub stalled_jobs: u32,
    /// Offset added to the emulator clock, in seconds, as if the server clock were skewed.
    pub clock_offset_secs: i64,
    /// Reject the configured API token as expired.
    pub token_expired: bool,
}

impl FaultPlan {
    /// Consumes one use of the first live rule for `endpoint` and returns its action.
    pub fn take(&mut self, endpoint: Endpoint) -> Option<FaultAction> {
        let rule = self
            .rules
            .iter_mut()
            .find(|rule| rule.times > 0 && rule.endpoint.matches(endpoint))?;
        rule.times -= 1;
        Some(rule.action.clone())
    }

    /// Consumes one stalled job, returning whether the next job stalls.
    pub fn take_stalled_job(&mut self) -> bool {
        if self.stalled_jobs == 0 {
            return false;
        }
        self.stalled_jobs -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn respond(status: u16) -> FaultAction {
        FaultAction::Respond {
            status,
            retry_after: None,
            body: None,
            content_type: None,
        }
    }

    #[test]
    fn rule_fires_exactly_times() {
        let mut plan = FaultPlan {
            rules: vec![FaultRule {
                endpoint: Endpoint::Upload,
                times: 2,
                action: respond(503),
            }],
            ..FaultPlan::default()
        };
        assert_eq!(plan.take(Endpoint::Status), None);
        assert_eq!(plan.take(Endpoint::Upload), Some(respond(503)));
        assert_eq!(plan.take(Endpoint::Upload), Some(respond(503)));
        assert_eq!(plan.take(Endpoint::Upload), None);
    }

    #[test]
    fn any_rule_matches_every_endpoint() {
        let mut plan = FaultPlan {
            rules: vec![FaultRule {
                endpoint: Endpoint::Any,
                times: 1,
                action: FaultAction::Drop,
            }],
            ..FaultPlan::default()
        };
        assert_eq!(plan.take(Endpoint::Owners), Some(FaultAction::Drop));
        assert_eq!(plan.take(Endpoint::Owners), None);
    }

    #[test]
    fn plan_reads_json() {
        let plan: FaultPlan = serde_json::from_str(
            r#"{"rules":[{"endpoint":"status","times":3,
                "action":{"kind":"respond","status":429,"retry_after":{"http_date_in":2}}}],
                "stalled_jobs":1}"#,
        )
        .unwrap();
        assert_eq!(plan.rules[0].times, 3);
        assert_eq!(plan.stalled_jobs, 1);
        let action = &plan.rules[0].action;
        assert_eq!(
            action,
            &FaultAction::Respond {
                status: 429,
                retry_after: Some(RetryAfter::HttpDateIn(2)),
                body: None,
                content_type: None,
            }
        );
    }
}
