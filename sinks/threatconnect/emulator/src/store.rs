//! The indicator store: upserts keyed by (owner, type, summary), honouring the job's write types.
//!
//! Non-File indicators have exactly one entry per (owner, type, normalized summary). File
//! indicators are found through any of their hashes, and an upload that shares a hash with an
//! existing File merges into it (hash superset), so each hash belongs to at most one File per
//! owner.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::item::{AttributeValue, IncomingIndicator, LabelValue};
use crate::job::{AttributeWriteType, HashCollisionMode, JobConfig, SetWriteType};
use crate::values::FileHashes;

/// An indicator as stored, for tests to inspect (`GET /_emulator/indicators`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredIndicator {
    pub owner: String,
    #[serde(rename = "type")]
    pub indicator_type: String,
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub rating: Option<f64>,
    pub confidence: Option<u8>,
    pub tags: Vec<String>,
    pub attributes: Vec<AttributeValue>,
    pub security_labels: Vec<String>,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    /// Job that created the indicator.
    pub created_by_job: u64,
    /// Job that wrote the indicator last.
    pub updated_by_job: u64,
}

/// Store write failure, with its batch error code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteError {
    pub code: &'static str,
    pub reason: String,
}

type IndicatorKey = (String, &'static str, String);

/// All indicators of all owners, and the security labels that exist.
#[derive(Debug, Default)]
pub struct IndicatorStore {
    next_id: u64,
    indicators: BTreeMap<u64, StoredIndicator>,
    by_key: HashMap<IndicatorKey, u64>,
    by_hash: HashMap<(String, String), u64>,
    labels: BTreeSet<String>,
}

impl IndicatorStore {
    pub fn new(labels: &[String]) -> Self {
        IndicatorStore {
            labels: labels.iter().cloned().collect(),
            ..IndicatorStore::default()
        }
    }

    /// Returns every stored indicator in creation order.
    pub fn list(&self) -> Vec<StoredIndicator> {
        self.indicators.values().cloned().collect()
    }

    /// Creates or updates an indicator of `config.owner`.
    pub fn upsert(
        &mut self,
        incoming: IncomingIndicator,
        config: &JobConfig,
        job_id: u64,
    ) -> Result<(), WriteError> {
        self.check_labels(&incoming)?;

        let existing = match &incoming.hashes {
            Some(hashes) => self.merge_files(&config.owner, hashes, config.hash_collision_mode),
            None => Ok(self.by_key.get(&key_of(&config.owner, &incoming)).copied()),
        };
        let id = match existing {
            Ok(Some(id)) => id,
            Ok(None) => self.insert_new(&config.owner, &incoming, job_id),
            // The incoming File conflicts with an existing one and the job keeps the existing one.
            Err(IgnoredIncoming) => return Ok(()),
        };

        let is_new = self.indicators[&id].created_by_job == job_id
            && self.indicators[&id].updated_by_job == 0;
        let indicator = self
            .indicators
            .get_mut(&id)
            .expect("indexed indicator exists");
        apply_update(indicator, &incoming, config, is_new);
        indicator.updated_by_job = job_id;
        self.remember_labels(&incoming);
        Ok(())
    }

    /// Deletes the indicator of `owner` matching `incoming`; a File matches through any hash.
    pub fn delete(&mut self, owner: &str, incoming: &IncomingIndicator) -> Result<(), WriteError> {
        let ids: BTreeSet<u64> = match &incoming.hashes {
            Some(hashes) => self.file_ids(owner, hashes),
            None => self
                .by_key
                .get(&key_of(owner, incoming))
                .copied()
                .into_iter()
                .collect(),
        };
        if ids.is_empty() {
            return Err(WriteError {
                code: "0x1007",
                reason: format!(
                    "Item not found: {} '{}' does not exist in owner '{owner}'",
                    incoming.indicator_type, incoming.summary
                ),
            });
        }
        for id in ids {
            self.remove(id);
        }
        Ok(())
    }

    fn check_labels(&self, incoming: &IncomingIndicator) -> Result<(), WriteError> {
        let labels = incoming.security_labels.iter().flatten();
        for LabelValue {
            name,
            creates_label,
        } in labels
        {
            if !creates_label && !self.labels.contains(name) {
                return Err(WriteError {
                    code: "0x1005",
                    reason: format!(
                        "Invalid indicator '{}': security label '{name}' does not exist; \
                         give its color and description to create it",
                        incoming.summary
                    ),
                });
            }
        }
        Ok(())
    }

    fn remember_labels(&mut self, incoming: &IncomingIndicator) {
        for label in incoming.security_labels.iter().flatten() {
            self.labels.insert(label.name.clone());
        }
    }

    fn insert_new(&mut self, owner: &str, incoming: &IncomingIndicator, job_id: u64) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        let hashes = incoming.hashes.clone().unwrap_or_default();
        let indicator = StoredIndicator {
            owner: owner.to_owned(),
            indicator_type: incoming.indicator_type.to_owned(),
            summary: incoming.summary.clone(),
            md5: hashes.md5,
            sha1: hashes.sha1,
            sha256: hashes.sha256,
            rating: None,
            confidence: None,
            tags: Vec::new(),
            attributes: Vec::new(),
            security_labels: Vec::new(),
            first_seen: None,
            last_seen: None,
            created_by_job: job_id,
            updated_by_job: 0,
        };
        self.index(id, &indicator);
        self.indicators.insert(id, indicator);
        id
    }

    fn index(&mut self, id: u64, indicator: &StoredIndicator) {
        if indicator.indicator_type == "File" {
            for hash in stored_hashes(indicator).all() {
                self.by_hash
                    .insert((indicator.owner.clone(), hash.to_owned()), id);
            }
        } else {
            let key = (
                indicator.owner.clone(),
                type_name(&indicator.indicator_type),
                indicator.summary.clone(),
            );
            self.by_key.insert(key, id);
        }
    }

    fn remove(&mut self, id: u64) -> Option<StoredIndicator> {
        let indicator = self.indicators.remove(&id)?;
        for hash in stored_hashes(&indicator).all() {
            self.by_hash
                .remove(&(indicator.owner.clone(), hash.to_owned()));
        }
        let key = (
            indicator.owner.clone(),
            type_name(&indicator.indicator_type),
            indicator.summary.clone(),
        );
        self.by_key.remove(&key);
        Some(indicator)
    }

    fn file_ids(&self, owner: &str, hashes: &FileHashes) -> BTreeSet<u64> {
        hashes
            .all()
            .filter_map(|hash| self.by_hash.get(&(owner.to_owned(), hash.to_owned())))
            .copied()
            .collect()
    }

    /// Merges the incoming hashes into the existing File indicators that share one of them and
    /// returns the surviving indicator. Several matching Files are merged into the oldest.
    fn merge_files(
        &mut self,
        owner: &str,
        incoming: &FileHashes,
        mode: HashCollisionMode,
    ) -> Result<Option<u64>, IgnoredIncoming> {
        let ids = self.file_ids(owner, incoming);
        let Some(&survivor) = ids.iter().next() else {
            return Ok(None);
        };

        let mut merged = FileHashes::default();
        let mut carried_attributes = Vec::new();
        let mut carried_tags = Vec::new();
        for &id in &ids {
            let existing = &self.indicators[&id];
            merged = union_hashes(
                &merged,
                &stored_hashes(existing),
                HashCollisionMode::FavorExisting,
            )
            .expect("favoring existing never ignores");
            if id != survivor {
                carried_attributes.extend(existing.attributes.iter().cloned());
                carried_tags.extend(existing.tags.iter().cloned());
            }
        }
        let merged = union_hashes(&merged, incoming, mode)?;

        let mut indicator = self.remove(survivor).expect("matched indicator exists");
        for &id in ids.iter().skip(1) {
            self.remove(id);
        }
        indicator.md5 = merged.md5.clone();
        indicator.sha1 = merged.sha1.clone();
        indicator.sha256 = merged.sha256.clone();
        indicator.summary = merged.summary();
        indicator.attributes.extend(carried_attributes);
        for tag in carried_tags {
            add_unique(&mut indicator.tags, tag);
        }
        self.index(survivor, &indicator);
        self.indicators.insert(survivor, indicator);
        Ok(Some(survivor))
    }
}

/// Marker: the incoming File collides with an existing one under `IgnoreIncoming`.
#[derive(Debug)]
struct IgnoredIncoming;

// NOTE: Split and IgnoreExisting would keep two File indicators that share a hash. The emulator
// keeps one File per hash, so it treats both modes as FavorIncoming.
fn union_hashes(
    existing: &FileHashes,
    incoming: &FileHashes,
    mode: HashCollisionMode,
) -> Result<FileHashes, IgnoredIncoming> {
    let pick =
        |old: &Option<String>, new: &Option<String>| -> Result<Option<String>, IgnoredIncoming> {
            match (old, new) {
                (Some(old), Some(new)) if old != new => match mode {
                    HashCollisionMode::IgnoreIncoming => Err(IgnoredIncoming),
                    HashCollisionMode::FavorExisting => Ok(Some(old.clone())),
                    _ => Ok(Some(new.clone())),
                },
                (old, new) => Ok(new.clone().or_else(|| old.clone())),
            }
        };
    Ok(FileHashes {
        md5: pick(&existing.md5, &incoming.md5)?,
        sha1: pick(&existing.sha1, &incoming.sha1)?,
        sha256: pick(&existing.sha256, &incoming.sha256)?,
    })
}

fn stored_hashes(indicator: &StoredIndicator) -> FileHashes {
    FileHashes {
        md5: indicator.md5.clone(),
        sha1: indicator.sha1.clone(),
        sha256: indicator.sha256.clone(),
    }
}

fn key_of(owner: &str, incoming: &IncomingIndicator) -> IndicatorKey {
    (
        owner.to_owned(),
        incoming.indicator_type,
        incoming.summary.clone(),
    )
}

fn type_name(name: &str) -> &'static str {
    crate::item::indicator_type_names()
        .find(|known| *known == name)
        .unwrap_or("unknown")
}

fn add_unique(names: &mut Vec<String>, name: String) {
    if !names.iter().any(|known| known.eq_ignore_ascii_case(&name)) {
        names.push(name);
    }
}

fn write_set(existing: &mut Vec<String>, incoming: Option<Vec<String>>, write_type: SetWriteType) {
    let incoming = incoming.unwrap_or_default();
    if write_type == SetWriteType::Replace {
        existing.clear();
    }
    for name in incoming {
        add_unique(existing, name);
    }
}

/// Applies the incoming fields to a stored indicator. A field absent from the incoming object
/// counts as an empty list, so Replace clears it.
fn apply_update(
    indicator: &mut StoredIndicator,
    incoming: &IncomingIndicator,
    config: &JobConfig,
    is_new: bool,
) {
    if incoming.rating.is_some() {
        indicator.rating = incoming.rating;
    }
    if incoming.confidence.is_some() {
        indicator.confidence = incoming.confidence;
    }
    if incoming.first_seen.is_some() {
        indicator.first_seen = incoming.first_seen.clone();
    }
    if incoming.last_seen.is_some() {
        indicator.last_seen = incoming.last_seen.clone();
    }

    let attributes = incoming.attributes.clone().unwrap_or_default();
    match config.attribute_write_type {
        AttributeWriteType::Append => indicator.attributes.extend(attributes),
        AttributeWriteType::Replace => indicator.attributes = attributes,
        AttributeWriteType::Singleton => {
            indicator.attributes.retain(|existing| {
                !attributes
                    .iter()
                    .any(|new| new.attribute_type == existing.attribute_type)
            });
            indicator.attributes.extend(attributes);
        }
        AttributeWriteType::Static if is_new => indicator.attributes = attributes,
        AttributeWriteType::Static => {}
    }

    write_set(
        &mut indicator.tags,
        incoming.tags.clone(),
        config.tag_write_type,
    );
    let labels = incoming
        .security_labels
        .as_ref()
        .map(|labels| labels.iter().map(|label| label.name.clone()).collect());
    write_set(
        &mut indicator.security_labels,
        labels,
        config.security_label_write_type,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{Action, FileMergeMode, Version};

    fn config(attribute_write_type: AttributeWriteType, tags: SetWriteType) -> JobConfig {
        JobConfig {
            owner: "Acme".to_owned(),
            halt_on_error: false,
            action: Action::Create,
            attribute_write_type,
            tag_write_type: tags,
            security_label_write_type: SetWriteType::Replace,
            file_merge_mode: FileMergeMode::Merge,
            hash_collision_mode: HashCollisionMode::FavorIncoming,
            version: Version::V2,
        }
    }

    fn host(summary: &str, source: &str, tag: &str) -> IncomingIndicator {
        IncomingIndicator {
            indicator_type: "Host",
            summary: summary.to_owned(),
            hashes: None,
            rating: Some(3.0),
            confidence: Some(50),
            tags: Some(vec![tag.to_owned()]),
            attributes: Some(vec![AttributeValue {
                attribute_type: "Source".to_owned(),
                value: source.to_owned(),
                displayed: false,
            }]),
            security_labels: None,
            first_seen: None,
            last_seen: None,
        }
    }

    fn file(md5: Option<&str>, sha256: Option<&str>) -> IncomingIndicator {
        let hashes = FileHashes {
            md5: md5.map(str::to_owned),
            sha1: None,
            sha256: sha256.map(str::to_owned),
        };
        IncomingIndicator {
            indicator_type: "File",
            summary: hashes.summary(),
            hashes: Some(hashes),
            ..host("unused", "s", "t")
        }
    }

    #[test]
    fn append_duplicates_attributes() {
        let mut store = IndicatorStore::default();
        let append = config(AttributeWriteType::Append, SetWriteType::Append);
        store
            .upsert(host("a.example", "feed", "x"), &append, 1)
            .unwrap();
        store
            .upsert(host("a.example", "feed", "y"), &append, 2)
            .unwrap();
        let list = store.list();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].attributes.len(), 2);
        assert_eq!(list[0].tags, vec!["x".to_owned(), "y".to_owned()]);
        assert_eq!(list[0].created_by_job, 1);
        assert_eq!(list[0].updated_by_job, 2);
    }

    #[test]
    fn replace_keeps_one_attribute() {
        let mut store = IndicatorStore::default();
        let replace = config(AttributeWriteType::Replace, SetWriteType::Replace);
        store
            .upsert(host("a.example", "old", "x"), &replace, 1)
            .unwrap();
        store
            .upsert(host("a.example", "new", "y"), &replace, 2)
            .unwrap();
        let list = store.list();
        assert_eq!(list[0].attributes.len(), 1);
        assert_eq!(list[0].attributes[0].value, "new");
        assert_eq!(list[0].tags, vec!["y".to_owned()]);
    }

    #[test]
    fn static_ignores_updates() {
        let mut store = IndicatorStore::default();
        let fixed = config(AttributeWriteType::Static, SetWriteType::Append);
        store
            .upsert(host("a.example", "first", "x"), &fixed, 1)
            .unwrap();
        store
            .upsert(host("a.example", "second", "x"), &fixed, 2)
            .unwrap();
        let list = store.list();
        assert_eq!(list[0].attributes.len(), 1);
        assert_eq!(list[0].attributes[0].value, "first");
    }

    #[test]
    fn file_hashes_merge_into_superset() {
        let md5 = "A".repeat(32);
        let sha256 = "B".repeat(64);
        let mut store = IndicatorStore::default();
        let replace = config(AttributeWriteType::Replace, SetWriteType::Append);
        store.upsert(file(Some(&md5), None), &replace, 1).unwrap();
        store
            .upsert(file(Some(&md5), Some(&sha256)), &replace, 2)
            .unwrap();
        store
            .upsert(file(None, Some(&sha256)), &replace, 3)
            .unwrap();
        let list = store.list();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].summary, format!("{md5} : {sha256}"));
        assert_eq!(list[0].updated_by_job, 3);
    }

    #[test]
    fn file_collision_modes() {
        let sha256 = "B".repeat(64);
        let mut store = IndicatorStore::default();
        let mut favor = config(AttributeWriteType::Replace, SetWriteType::Append);
        store
            .upsert(file(Some(&"A".repeat(32)), Some(&sha256)), &favor, 1)
            .unwrap();
        store
            .upsert(file(Some(&"C".repeat(32)), Some(&sha256)), &favor, 2)
            .unwrap();
        assert_eq!(store.list()[0].md5, Some("C".repeat(32)));

        favor.hash_collision_mode = HashCollisionMode::IgnoreIncoming;
        store
            .upsert(file(Some(&"D".repeat(32)), Some(&sha256)), &favor, 3)
            .unwrap();
        assert_eq!(store.list()[0].md5, Some("C".repeat(32)));
        assert_eq!(store.list()[0].updated_by_job, 2);
    }

    #[test]
    fn delete_missing_is_not_found() {
        let mut store = IndicatorStore::default();
        let error = store
            .delete("Acme", &host("a.example", "s", "t"))
            .unwrap_err();
        assert_eq!(error.code, "0x1007");
        let replace = config(AttributeWriteType::Replace, SetWriteType::Replace);
        store
            .upsert(host("a.example", "s", "t"), &replace, 1)
            .unwrap();
        assert!(store.delete("Acme", &host("a.example", "s", "t")).is_ok());
        assert!(store.list().is_empty());
    }

    #[test]
    fn unknown_label_is_rejected() {
        let mut store = IndicatorStore::new(&["TLP:AMBER".to_owned()]);
        let replace = config(AttributeWriteType::Replace, SetWriteType::Replace);
        let mut incoming = host("a.example", "s", "t");
        incoming.security_labels = Some(vec![LabelValue {
            name: "TLP:PURPLE".to_owned(),
            creates_label: false,
        }]);
        let error = store.upsert(incoming.clone(), &replace, 1).unwrap_err();
        assert!(error.reason.contains("TLP:PURPLE"), "{}", error.reason);
        incoming.security_labels = Some(vec![LabelValue {
            name: "TLP:PURPLE".to_owned(),
            creates_label: true,
        }]);
        assert!(store.upsert(incoming, &replace, 2).is_ok());
    }
}
