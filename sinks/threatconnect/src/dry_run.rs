//! The dry run: each job the sink would submit is written to a directory instead of being sent,
//! as two files: `job-NNNNNN.json`, the exact upload body `{"indicator":[…]}`, and
//! `job-NNNNNN.config.json`, the job configuration. Nothing is sent and no credentials are read.
//!
//! The indicators of a written job count as delivered, because the job files are where a dry
//! run delivers them: the summary then shows, per feed, how many indicators ThreatConnect would
//! receive, and the rejects file holds only indicators that would never be sent. The summary
//! marks the run with `threatconnect_dry_run = true` and names the directory.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::batcher::JobPayload;

/// Writes job files, numbered from 1 in submission order.
pub struct DryRunWriter {
    dir: PathBuf,
    job_config: Bytes,
    jobs: u64,
}

impl DryRunWriter {
    /// Creates the directory if needed.
    pub fn new(dir: &Path, job_config: Bytes) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(DryRunWriter {
            dir: dir.to_owned(),
            job_config,
            jobs: 0,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes one job's files and returns the data file's path.
    pub fn write(&mut self, payload: &JobPayload) -> std::io::Result<PathBuf> {
        self.jobs += 1;
        let data = self.dir.join(format!("job-{:06}.json", self.jobs));
        let config = self.dir.join(format!("job-{:06}.config.json", self.jobs));
        std::fs::write(&data, payload.body())?;
        std::fs::write(&config, &self.job_config)?;
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::batcher::Batcher;
    use crate::batcher::tests::delivery;

    #[test]
    fn job_files_written() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("jobs");
        let mut writer =
            DryRunWriter::new(&target, Bytes::from_static(b"{\"owner\":\"o\"}")).unwrap();
        let mut batcher = Batcher::new(10, Arc::new(AtomicUsize::new(1_000_000)), 2);
        let mut ready = Vec::new();
        let sent = delivery(0, "dry.example");
        let expected = serde_json::to_value(&sent.indicator).unwrap();
        batcher.push(sent, &mut ready).unwrap();
        let path = writer.write(&batcher.flush().unwrap()).unwrap();

        assert_eq!(path, target.join("job-000001.json"));
        let data: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(data, serde_json::json!({ "indicator": [expected] }));
        let config = std::fs::read_to_string(target.join("job-000001.config.json")).unwrap();
        assert_eq!(config, "{\"owner\":\"o\"}");
    }
}
