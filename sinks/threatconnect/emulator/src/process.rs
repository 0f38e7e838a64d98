//! Processing of one uploaded batch file into store writes, counts and error entries.
//!
//! Every item of the file ends in exactly one of success, error or unprocessed, so
//! `successCount + errorCount + unprocessCount` equals the number of items, except for a
//! file-level failure (invalid JSON, too many indicators), which is one error for the file.

use serde_json::Value;

use crate::config::AttributeTypes;
use crate::item::{ItemRules, validate_indicator};
use crate::job::{Action, Counts, ItemError, JobConfig};
use crate::store::IndicatorStore;

/// The prefix both ThreatConnect SDKs match to recognize a fatal parse failure.
const UNEXPECTED_EXCEPTION: &str = "Encountered an unexpected Exception while processing batch job";

/// Counts and errors of one processed batch file.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchOutcome {
    pub counts: Counts,
    pub errors: Vec<ItemError>,
}

/// Job facts a batch file is processed against.
pub struct BatchContext<'a> {
    pub job_id: u64,
    pub config: &'a JobConfig,
    pub attribute_types: &'a AttributeTypes,
    pub max_indicators: usize,
}

/// Returns how many items (indicators, groups, associations) a batch file holds, or `None` when
/// it is not a JSON object.
pub fn count_items(data: &[u8]) -> Option<usize> {
    let Ok(Value::Object(top)) = serde_json::from_slice::<Value>(data) else {
        return None;
    };
    let length = |name: &str| top.get(name).and_then(Value::as_array).map_or(0, Vec::len);
    Some(length("indicator") + length("group") + length("association"))
}

/// Processes a batch file against the store.
pub fn process_batch(
    data: &[u8],
    context: &BatchContext<'_>,
    store: &mut IndicatorStore,
) -> BatchOutcome {
    let top = match serde_json::from_slice::<Value>(data) {
        Ok(Value::Object(top)) => top,
        Ok(_) => return file_failure("$", "the batch file is not a JSON object".to_owned()),
        Err(error) => {
            let offset = byte_offset(data, error.line(), error.column());
            return file_failure(&json_path_at(data, offset), error.to_string());
        }
    };

    let mut sections = Vec::new();
    for name in ["indicator", "group", "association"] {
        match top.get(name) {
            None | Some(Value::Null) => sections.push(&[][..]),
            Some(Value::Array(items)) => sections.push(items.as_slice()),
            Some(_) => {
                return file_failure(&format!("$.{name}"), format!("'{name}' is not an array"));
            }
        }
    }
    let [indicators, groups, associations] = sections[..] else {
        unreachable!("three sections are pushed");
    };
    let total = indicators.len() + groups.len() + associations.len();

    if indicators.len() > context.max_indicators {
        let reason = format!(
            "Batch job contains {} indicators, which would exceed the number of allowed \
             indicators ({})",
            indicators.len(),
            context.max_indicators
        );
        let mut outcome = BatchOutcome::default();
        outcome.counts.error_count = 1;
        outcome.counts.unprocess_count = total as u64;
        outcome.errors.push(ItemError {
            code: "0x1008",
            reason,
            detail: None,
            source: Value::String("$.indicator".to_owned()),
        });
        return outcome;
    }

    let mut run = Run {
        outcome: BatchOutcome::default(),
        remaining: total as u64,
        halted: false,
    };
    let rules = ItemRules {
        attribute_types: context.attribute_types,
        action: context.config.action,
        version: context.config.version,
    };
    for item in indicators {
        let result = validate_indicator(item, &rules)
            .map_err(|reason| ("0x1005", reason))
            .and_then(|incoming| {
                let written = match context.config.action {
                    Action::Create => store.upsert(incoming, context.config, context.job_id),
                    Action::Delete => store.delete(&context.config.owner, &incoming),
                };
                written.map_err(|error| (error.code, error.reason))
            });
        if run.record(
            item,
            ItemKind::Indicator,
            result,
            context.config.halt_on_error,
        ) {
            return run.finish();
        }
    }

    // NOTE: groups and associations are not emulated. Each one is reported as an item error, so
    // that a client sending them notices instead of losing them silently.
    for item in groups {
        let result = Err((
            "0x1006",
            "Invalid group: groups are not supported by the emulator".to_owned(),
        ));
        if run.record(item, ItemKind::Group, result, context.config.halt_on_error) {
            return run.finish();
        }
    }
    for item in associations {
        let result = Err((
            "0x1009",
            "Association failed: associations are not supported by the emulator".to_owned(),
        ));
        if run.record(
            item,
            ItemKind::Association,
            result,
            context.config.halt_on_error,
        ) {
            return run.finish();
        }
    }
    run.finish()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ItemKind {
    Indicator,
    Group,
    Association,
}

struct Run {
    outcome: BatchOutcome,
    remaining: u64,
    halted: bool,
}

impl Run {
    /// Records one item's result and returns whether processing halts here.
    fn record(
        &mut self,
        item: &Value,
        kind: ItemKind,
        result: Result<(), (&'static str, String)>,
        halt_on_error: bool,
    ) -> bool {
        self.remaining -= 1;
        let counts = &mut self.outcome.counts;
        let Err((code, reason)) = result else {
            counts.success_count += 1;
            match kind {
                ItemKind::Indicator => counts.success_indicator_count += 1,
                ItemKind::Group => counts.success_group_count += 1,
                ItemKind::Association => {}
            }
            return false;
        };

        counts.error_count += 1;
        match kind {
            ItemKind::Indicator => counts.error_indicator_count += 1,
            ItemKind::Group => counts.error_group_count += 1,
            ItemKind::Association => {}
        }
        self.outcome.errors.push(ItemError {
            code,
            reason,
            detail: None,
            source: item.clone(),
        });
        self.halted = halt_on_error;
        self.halted
    }

    fn finish(mut self) -> BatchOutcome {
        if self.halted {
            self.outcome.counts.unprocess_count = self.remaining;
        }
        self.outcome
    }
}

fn file_failure(path: &str, detail: String) -> BatchOutcome {
    let mut outcome = BatchOutcome::default();
    outcome.counts.error_count = 1;
    outcome.errors.push(ItemError {
        code: "0x1003",
        reason: format!("{UNEXPECTED_EXCEPTION}. Last known JSON path: '{path}'"),
        detail: Some(detail),
        source: Value::String(path.to_owned()),
    });
    outcome
}

/// Converts serde_json's 1-based line and column into a byte offset.
fn byte_offset(data: &[u8], line: usize, column: usize) -> usize {
    let line_start = data
        .split_inclusive(|byte| *byte == b'\n')
        .take(line.saturating_sub(1))
        .map(<[u8]>::len)
        .sum::<usize>();
    (line_start + column.saturating_sub(1)).min(data.len())
}

enum Frame {
    Object { key: Option<String>, in_key: bool },
    Array { index: usize },
}

/// Returns the JSON path (`$.indicator[3].tag`) of the value open at `offset`, by scanning the
/// document's structure up to that byte.
fn json_path_at(data: &[u8], offset: usize) -> String {
    let mut stack: Vec<Frame> = Vec::new();
    let mut string: Option<Vec<u8>> = None;
    let mut escaped = false;

    for &byte in &data[..offset] {
        if let Some(text) = string.as_mut() {
            if escaped {
                escaped = false;
                text.push(byte);
            } else if byte == b'\\' {
                escaped = true;
            } else if byte == b'"' {
                let text = string.take().unwrap_or_default();
                if let Some(Frame::Object { key, in_key: true }) = stack.last_mut() {
                    *key = Some(String::from_utf8_lossy(&text).into_owned());
                }
            } else {
                text.push(byte);
            }
            continue;
        }
        match byte {
            b'"' => string = Some(Vec::new()),
            b'{' => stack.push(Frame::Object {
                key: None,
                in_key: true,
            }),
            b'[' => stack.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b':' => {
                if let Some(Frame::Object { in_key, .. }) = stack.last_mut() {
                    *in_key = false;
                }
            }
            b',' => match stack.last_mut() {
                Some(Frame::Object { key, in_key }) => {
                    *key = None;
                    *in_key = true;
                }
                Some(Frame::Array { index }) => *index += 1,
                None => {}
            },
            _ => {}
        }
    }

    let mut path = String::from("$");
    for frame in &stack {
        match frame {
            Frame::Object { key: Some(key), .. } => {
                path.push('.');
                path.push_str(key);
            }
            Frame::Object { key: None, .. } => {}
            Frame::Array { index } => path.push_str(&format!("[{index}]")),
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{AttributeWriteType, FileMergeMode, HashCollisionMode, SetWriteType, Version};

    fn config(halt_on_error: bool) -> JobConfig {
        JobConfig {
            owner: "Acme".to_owned(),
            halt_on_error,
            action: Action::Create,
            attribute_write_type: AttributeWriteType::Replace,
            tag_write_type: SetWriteType::Replace,
            security_label_write_type: SetWriteType::Replace,
            file_merge_mode: FileMergeMode::Merge,
            hash_collision_mode: HashCollisionMode::FavorIncoming,
            version: Version::V2,
        }
    }

    fn run(
        data: &str,
        halt_on_error: bool,
        max_indicators: usize,
    ) -> (BatchOutcome, IndicatorStore) {
        let config = config(halt_on_error);
        let types = AttributeTypes::default();
        let context = BatchContext {
            job_id: 1,
            config: &config,
            attribute_types: &types,
            max_indicators,
        };
        let mut store = IndicatorStore::default();
        let outcome = process_batch(data.as_bytes(), &context, &mut store);
        (outcome, store)
    }

    const MIXED: &str = r#"{"indicator":[
        {"type":"Host","summary":"a.example"},
        {"type":"Host","summary":"bad host"},
        {"type":"Address","summary":"192.0.2.1"}]}"#;

    #[test]
    fn errors_do_not_stop_without_halt() {
        let (outcome, store) = run(MIXED, false, 25_000);
        assert_eq!(outcome.counts.success_count, 2);
        assert_eq!(outcome.counts.error_count, 1);
        assert_eq!(outcome.counts.unprocess_count, 0);
        assert_eq!(outcome.errors[0].code, "0x1005");
        assert_eq!(store.list().len(), 2);
    }

    #[test]
    fn halt_leaves_rest_unprocessed() {
        let (outcome, store) = run(MIXED, true, 25_000);
        assert_eq!(outcome.counts.success_count, 1);
        assert_eq!(outcome.counts.error_count, 1);
        assert_eq!(outcome.counts.unprocess_count, 1);
        assert_eq!(store.list().len(), 1);
    }

    #[test]
    fn invalid_json_names_path() {
        let data = r#"{"indicator":[{"type":"Host"},{"type":"Host","summary":}]}"#;
        let (outcome, _) = run(data, true, 25_000);
        assert_eq!(outcome.counts.error_count, 1);
        assert_eq!(outcome.counts.unprocess_count, 0);
        assert_eq!(
            outcome.errors[0].reason,
            "Encountered an unexpected Exception while processing batch job. \
             Last known JSON path: '$.indicator[1].summary'"
        );
    }

    #[test]
    fn too_many_indicators_fails_job() {
        let (outcome, store) = run(MIXED, false, 2);
        assert_eq!(outcome.counts.error_count, 1);
        assert_eq!(outcome.counts.unprocess_count, 3);
        assert!(
            outcome.errors[0]
                .reason
                .contains("would exceed the number of allowed indicators")
        );
        assert!(store.list().is_empty());
    }

    #[test]
    fn groups_are_reported() {
        let (outcome, _) = run(
            r#"{"group":[{"type":"Adversary","name":"x","xid":"1"}]}"#,
            false,
            10,
        );
        assert_eq!(outcome.counts.error_group_count, 1);
        assert_eq!(outcome.errors[0].code, "0x1006");
    }

    #[test]
    fn counts_items() {
        assert_eq!(count_items(MIXED.as_bytes()), Some(3));
        assert_eq!(count_items(b"[]"), None);
    }
}
