//! The end-of-run summary on stderr and as JSON, and the catalog listing.

use std::fmt::Write as _;
use std::path::Path;

use feedpipe_pipeline::Summary;
use feedpipe_pipeline::catalog::FEEDS;
use serde::Serialize;

/// The summary of a run, as printed and as written by `--summary-json`.
#[derive(Serialize)]
pub struct Report {
    #[serde(flatten)]
    pub summary: Summary,
    /// Whether `read = delivered + rejected + filtered` holds for every source.
    pub balanced: bool,
    pub rejects_file: String,
}

impl Report {
    pub fn new(summary: Summary, rejects: &Path) -> Self {
        let balanced = summary.sources.iter().all(|source| source.balanced());
        Report {
            summary,
            balanced,
            rejects_file: rejects.display().to_string(),
        }
    }

    /// Renders the per-feed counts as a table, with the reasons under each feed.
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<24} {:>10} {:>10} {:>10} {:>10}  source",
            "feed", "read", "delivered", "rejected", "filtered"
        );
        for source in &self.summary.sources {
            let _ = writeln!(
                out,
                "{:<24} {:>10} {:>10} {:>10} {:>10}  {}",
                source.feed,
                source.read,
                source.delivered,
                source.rejected,
                source.filtered,
                source.source
            );
            for (reason, count) in &source.rejected_by_reason {
                let _ = writeln!(out, "    rejected {count:>8}  {reason}");
            }
            for (reason, count) in &source.filtered_by_reason {
                let _ = writeln!(out, "    filtered {count:>8}  {reason}");
            }
            if let Some(note) = &source.note {
                let _ = writeln!(out, "    note: {note}");
            }
            if let Some(error) = &source.error {
                let _ = writeln!(out, "    stopped early: {error}");
            }
        }
        let summary = &self.summary;
        let _ = writeln!(
            out,
            "{:<24} {:>10} {:>10} {:>10} {:>10}",
            "total", summary.read, summary.delivered, summary.rejected, summary.filtered
        );
        for (key, value) in &summary.sink {
            let _ = writeln!(out, "    {key}: {value}");
        }
        for (key, value) in &summary.stages {
            let _ = writeln!(out, "    {key}: {value}");
        }
        if summary.sink.get("threatconnect_dry_run") == Some(&serde_json::Value::Bool(true)) {
            let dir = summary
                .sink
                .get("threatconnect_dry_run_dir")
                .and_then(|dir| dir.as_str())
                .unwrap_or("the dry-run directory");
            let _ = writeln!(
                out,
                "dry run: nothing was sent to ThreatConnect; the indicators counted as delivered \
                 are in the job files in {dir}"
            );
        }
        if summary.rejected > 0 {
            let _ = writeln!(out, "rejected records: {}", self.rejects_file);
        }
        if !self.balanced {
            let _ = writeln!(
                out,
                "warning: read ≠ delivered + rejected + filtered for some source; the run stopped \
                 before every record reached an outcome"
            );
        }
        out
    }

    /// Writes the report as pretty JSON.
    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(path, json)
    }
}

#[derive(Serialize)]
struct CatalogRow {
    name: &'static str,
    id: Option<u32>,
    prefix: &'static str,
    indicator_types: Vec<&'static str>,
    tags: &'static [&'static str],
    tag_fields: &'static [&'static str],
    superseded_by: Option<&'static str>,
}

/// Prints the feed catalog as a table or as JSON.
pub fn print_catalog(json: bool) {
    let rows: Vec<CatalogRow> = FEEDS
        .iter()
        .map(|spec| CatalogRow {
            name: spec.name,
            id: spec.id,
            prefix: spec.prefix,
            indicator_types: spec
                .indicator_types
                .iter()
                .map(|kind| kind.as_str())
                .collect(),
            tags: spec.tags,
            tag_fields: spec.tag_fields,
            superseded_by: spec.superseded_by,
        })
        .collect();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).expect("catalog rows serialize")
        );
        return;
    }
    let header = [
        "feed",
        "id",
        "file prefix",
        "indicator types",
        "tags",
        "tag fields",
    ];
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|row| {
            let fields = if row.tag_fields.is_empty() {
                "-".to_owned()
            } else {
                row.tag_fields.join(", ")
            };
            [
                row.name.to_owned(),
                row.id.map_or_else(|| "-".to_owned(), |id| id.to_string()),
                row.prefix.to_owned(),
                row.indicator_types.join(", "),
                row.tags.join(", "),
                fields,
            ]
        })
        .collect();
    let mut widths = header.map(|title| title.chars().count());
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    print_row(&header.map(str::to_owned), &widths);
    for row in &cells {
        print_row(row, &widths);
    }
}

/// Prints one table row with every column padded to its width; the ID column is right-aligned.
fn print_row(cells: &[String; 6], widths: &[usize; 6]) {
    let mut line = String::new();
    for (index, (cell, width)) in cells.iter().zip(widths).enumerate() {
        let pad = width.saturating_sub(cell.chars().count());
        if index == 1 {
            line.push_str(&" ".repeat(pad));
            line.push_str(cell);
        } else {
            line.push_str(cell);
            if index + 1 < cells.len() {
                line.push_str(&" ".repeat(pad));
            }
        }
        if index + 1 < cells.len() {
            line.push_str("  ");
        }
    }
    println!("{line}");
}
