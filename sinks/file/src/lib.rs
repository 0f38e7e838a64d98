//! The file sink: one ThreatConnect batch indicator object per line (JSONL), or a flat CSV.
//!
//! The JSONL line is exactly the object the ThreatConnect sink sends, so a file run shows what a
//! ThreatConnect run would deliver. A regular file is written as `PATH.partial` and renamed to
//! `PATH` when the run finishes, so a reader never picks up a half-written file. Standard output
//! (`-`) and an existing path that is not a regular file (a symbolic link, a FIFO, a device) are
//! written in place. Each batch is flushed before it counts as delivered; a batch whose write
//! fails is counted as rejected (`sink_failed`).

mod csv_encoder;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use feedpipe_pipeline::{Delivery, Encoder, Ledger, Reject, Sink, SinkError};
use serde::Deserialize;

pub use csv_encoder::{CSV_HEADER, write_csv_row};

/// Output format of the file sink.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// One ThreatConnect batch indicator object per line.
    #[default]
    Jsonl,
    /// A flat CSV with a header row.
    Csv,
}

impl std::str::FromStr for FileFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "jsonl" | "json" => Ok(FileFormat::Jsonl),
            "csv" => Ok(FileFormat::Csv),
            other => Err(format!(
                "unknown file format {other:?}: expected jsonl or csv"
            )),
        }
    }
}

/// A writer that counts the bytes passing through.
struct Counting<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.bytes += written as u64;
        Ok(written)
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let written = self.inner.write_vectored(bufs)?;
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

type Output = Counting<Box<dyn Write + Send>>;

/// Encodes one indicator as a JSONL line or a CSV row; the workers run it in parallel.
#[derive(Clone, Copy, Debug)]
pub struct FileEncoder {
    format: FileFormat,
}

impl FileEncoder {
    pub fn new(format: FileFormat) -> Self {
        FileEncoder { format }
    }
}

impl Encoder for FileEncoder {
    fn encode(&self, delivery: &Delivery, out: &mut Vec<u8>) -> io::Result<()> {
        match self.format {
            FileFormat::Jsonl => {
                feedpipe_pipeline::json::write_indicator(out, &delivery.indicator);
                out.push(b'\n');
                Ok(())
            }
            FileFormat::Csv => {
                let mut writer = csv::WriterBuilder::new()
                    .has_headers(false)
                    .from_writer(&mut *out);
                write_csv_row(&mut writer, delivery)?;
                writer.flush()
            }
        }
    }
}

/// Writes indicators to a file or standard output.
pub struct FileSink {
    target: Option<PathBuf>,
    partial: Option<PathBuf>,
    encoder: Arc<FileEncoder>,
    output: Output,
    /// Reused buffer for a delivery the workers did not encode.
    line: Vec<u8>,
    written: u64,
    failed: bool,
    /// Name of the sink's destination, for error messages.
    written_to: String,
}

impl FileSink {
    /// Creates the sink; `-` writes to standard output.
    pub fn create(path: &Path, format: FileFormat) -> io::Result<Self> {
        let in_place = std::fs::symlink_metadata(path)
            .map(|metadata| !metadata.file_type().is_file())
            .unwrap_or(false);
        if path.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                format!("{} is a directory", path.display()),
            ));
        }
        let (writer, target, partial): (Box<dyn Write + Send>, _, _) = if path.as_os_str() == "-" {
            (Box::new(BufWriter::new(io::stdout())), None, None)
        } else if in_place {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(path)?;
            (
                Box::new(BufWriter::with_capacity(256 * 1024, file)),
                None,
                None,
            )
        } else {
            if let Some(parent) = path
                .parent()
                .filter(|parent| !parent.as_os_str().is_empty())
            {
                std::fs::create_dir_all(parent)?;
            }
            let mut partial = path.as_os_str().to_owned();
            partial.push(".partial");
            let partial = PathBuf::from(partial);
            let file = File::create(&partial)?;
            (
                Box::new(BufWriter::with_capacity(256 * 1024, file)),
                Some(path.to_owned()),
                Some(partial),
            )
        };
        let written_to = match (&partial, path.as_os_str() == "-") {
            (_, true) => "standard output".to_owned(),
            (Some(partial), false) => partial.display().to_string(),
            (None, false) => path.display().to_string(),
        };
        let mut output = Counting {
            inner: writer,
            bytes: 0,
        };
        if format == FileFormat::Csv {
            output.write_all(CSV_HEADER.as_bytes())?;
        }
        Ok(FileSink {
            target,
            partial,
            encoder: Arc::new(FileEncoder::new(format)),
            output,
            line: Vec::with_capacity(4096),
            written: 0,
            failed: false,
            written_to,
        })
    }

    /// Writes a batch. When the workers encoded every delivery, the encodings go to the output
    /// in vectored writes, which the buffered writer hands straight to the file without
    /// copying them into its buffer first.
    fn write_batch(&mut self, batch: &[Delivery]) -> io::Result<()> {
        let encoded: Option<Vec<io::IoSlice<'_>>> = batch
            .iter()
            .map(|delivery| delivery.encoded.as_deref().map(io::IoSlice::new))
            .collect();
        let Some(mut slices) = encoded else {
            return batch.iter().try_for_each(|delivery| self.encode(delivery));
        };
        let mut rest = &mut slices[..];
        while !rest.is_empty() {
            match self.output.write_vectored(rest) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => io::IoSlice::advance_slices(&mut rest, written),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    fn encode(&mut self, delivery: &Delivery) -> io::Result<()> {
        match &delivery.encoded {
            Some(encoded) => self.output.write_all(encoded),
            None => {
                self.line.clear();
                self.encoder.encode(delivery, &mut self.line)?;
                self.output.write_all(&self.line)
            }
        }
    }

    fn flush(&mut self) -> io::Result<u64> {
        self.output.flush()?;
        Ok(self.output.bytes)
    }

    fn failed(&self, error: io::Error) -> SinkError {
        SinkError::new(
            "file",
            format!("writing {} failed: {error}", self.written_to),
        )
    }
}

#[async_trait]
impl Sink for FileSink {
    fn name(&self) -> &'static str {
        "file"
    }

    fn encoder(&self) -> Option<Arc<dyn Encoder>> {
        Some(self.encoder.clone())
    }

    async fn send(&mut self, batch: &mut Vec<Delivery>, ledger: &Ledger) -> Result<(), SinkError> {
        let written = if self.failed {
            Err(io::Error::other("an earlier write failed"))
        } else {
            self.write_batch(batch)
                .and_then(|()| self.flush().map(|_| ()))
        };
        if let Err(error) = written {
            self.failed = true;
            let error = self.failed(error);
            let reject = Reject::new("sink_failed", error.to_string());
            for delivery in batch.iter() {
                if let Err(error) = ledger.add_rejected(&delivery.origin, &reject) {
                    tracing::error!(%error, "Writing the rejects file failed.");
                }
            }
            return Err(error);
        }
        self.written += batch.len() as u64;
        ledger.add_delivered(batch.iter().map(|delivery| &delivery.origin));
        Ok(())
    }

    async fn finish(&mut self, ledger: &Ledger) -> Result<(), SinkError> {
        if self.failed {
            return Err(SinkError::new(
                "file",
                "the output is incomplete because a write failed; it was not renamed",
            ));
        }
        let bytes = self.flush().map_err(|error| self.failed(error))?;
        if let (Some(partial), Some(target)) = (&self.partial, &self.target) {
            std::fs::rename(partial, target).map_err(|error| {
                SinkError::new(
                    "file",
                    format!(
                        "renaming {} to {} failed: {error}",
                        partial.display(),
                        target.display()
                    ),
                )
            })?;
            tracing::info!(path = %target.display(), indicators = self.written, "Wrote indicators.");
        }
        ledger.set_sink_stat("file.indicators_written", self.written.into());
        ledger.set_sink_stat("file.bytes_written", bytes.into());
        Ok(())
    }
}

#[cfg(test)]
mod tests;
