//! Retry timing for ThreatConnect requests: full-jitter exponential backoff with a cap, a
//! maximum number of attempts, and `Retry-After` (seconds or an HTTP date) honoured up to the
//! same cap. Which failures are retried, and which requests may be resent at all, is decided
//! by the caller in [`crate::client`] and [`crate::job`]; this module only computes how long to wait.
//!
//! Every wait happens inside the job task that holds an in-flight slot, so a request being
//! retried never lets another job start in its place.

use std::time::{Duration, SystemTime};

use crate::config::ThreatConnectSinkConfig;

/// How often and how long a failed request is retried.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts per request, the first one included.
    pub max_attempts: u32,
    /// Upper bound of the first retry's backoff; it doubles per attempt.
    pub initial_backoff: Duration,
    /// Cap of every wait, `Retry-After` included.
    pub max_backoff: Duration,
}

impl RetryPolicy {
    pub fn from_config(config: &ThreatConnectSinkConfig) -> Self {
        RetryPolicy {
            max_attempts: config.retry_max_attempts,
            initial_backoff: Duration::from_secs_f64(config.retry_initial_backoff_secs),
            max_backoff: Duration::from_secs_f64(config.retry_max_backoff_secs),
        }
    }

    /// Returns whether a request that failed on attempt `attempt` (1-based) may be tried again.
    pub fn allows_another(&self, attempt: u32) -> bool {
        attempt < self.max_attempts
    }

    /// Returns the upper bound of the backoff after failed attempt `attempt` (1-based):
    /// `initial × 2^(attempt-1)`, capped.
    pub fn backoff_ceiling(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30);
        self.initial_backoff
            .saturating_mul(1u32 << exponent)
            .min(self.max_backoff)
    }

    /// Returns the wait after failed attempt `attempt`: the server's `Retry-After` when it sent
    /// one (capped), else a uniformly random duration up to the backoff ceiling (full jitter).
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(requested) = retry_after {
            return requested.min(self.max_backoff);
        }
        let ceiling = self.backoff_ceiling(attempt);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(fastrand::u64(0..=nanos))
    }
}

/// Parses a `Retry-After` value: delay seconds (`120`) or an HTTP date, measured from `now`.
/// A date in the past gives zero; an unparsable value gives `None`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
        }
    }

    #[test]
    fn retry_after_seconds_parsed() {
        let now = SystemTime::now();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_date_parsed() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn retry_after_garbage_ignored() {
        let now = SystemTime::now();
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
        assert_eq!(parse_retry_after("", now), None);
    }

    #[test]
    fn backoff_ceiling_doubles_and_caps() {
        let policy = policy();
        assert_eq!(policy.backoff_ceiling(1), Duration::from_millis(100));
        assert_eq!(policy.backoff_ceiling(2), Duration::from_millis(200));
        assert_eq!(policy.backoff_ceiling(4), Duration::from_millis(800));
        assert_eq!(policy.backoff_ceiling(5), Duration::from_secs(1));
        assert_eq!(policy.backoff_ceiling(200), Duration::from_secs(1));
    }

    #[test]
    fn backoff_delay_within_bounds() {
        let policy = policy();
        let mut longest = Duration::ZERO;
        for attempt in 1..=6 {
            for _ in 0..200 {
                let delay = policy.delay(attempt, None);
                assert!(
                    delay <= policy.backoff_ceiling(attempt),
                    "{delay:?} at {attempt}"
                );
                longest = longest.max(delay);
            }
        }
        // Full jitter spreads the waits: 1,200 draws never all land in the lowest tenth.
        assert!(longest > Duration::from_millis(100));
    }

    #[test]
    fn retry_after_honoured_up_to_cap() {
        let policy = policy();
        assert_eq!(
            policy.delay(1, Some(Duration::from_millis(700))),
            Duration::from_millis(700)
        );
        assert_eq!(
            policy.delay(1, Some(Duration::from_secs(90))),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn attempts_limited() {
        let policy = policy();
        assert!(policy.allows_another(3));
        assert!(!policy.allows_another(4));
    }
}
