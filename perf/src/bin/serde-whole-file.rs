//! A whole-file peer of the comparison: reads an IP Reputation feed into memory, parses it with
//! `serde_json::from_slice::<Vec<Value>>` and writes one ThreatConnect indicator object per line,
//! the way a simple converter that does not stream works. Its peak memory grows with the feed.
//!
//! Usage: `serde-whole-file FEED.json OUTPUT.jsonl`

use std::fs::File;
use std::io::{BufWriter, Write};

use anyhow::{Context, bail};
use serde_json::{Value, json};

/// Rating of a record without a popularity of 1 to 5.
const DEFAULT_RATING: u64 = 0;

/// Confidence of a record without a threat score, as in Kaspersky's own integrations.
const DEFAULT_CONFIDENCE: u64 = 100;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let (Some(input), Some(output)) = (args.next(), args.next()) else {
        bail!("usage: serde-whole-file FEED.json OUTPUT.jsonl");
    };
    let text = std::fs::read(&input).with_context(|| format!("failed to read {input:?}"))?;
    let records: Vec<Value> = serde_json::from_slice(&text)
        .with_context(|| format!("{input:?} is not a JSON array of records"))?;
    drop(text);

    let file = File::create(&output).with_context(|| format!("failed to create {output:?}"))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    for record in &records {
        serde_json::to_writer(&mut out, &to_indicator(record))?;
        out.write_all(b"\n")?;
    }
    out.flush()
        .with_context(|| format!("failed to write {output:?}"))?;
    Ok(())
}

/// Maps an IP Reputation record to a ThreatConnect batch indicator object.
fn to_indicator(record: &Value) -> Value {
    let rating = match record["popularity"].as_u64() {
        Some(popularity @ 1..=5) => 6 - popularity,
        _ => DEFAULT_RATING,
    };
    let confidence = record["threat_score"]
        .as_u64()
        .unwrap_or(DEFAULT_CONFIDENCE);
    let category = record["category"].as_str().unwrap_or("");
    let first_seen = record["first_seen"].as_str().unwrap_or("");
    json!({
        "type": "Address",
        "summary": record["ip"],
        "rating": rating,
        "confidence": confidence,
        "tag": [{"name": "Kaspersky"}, {"name": "IP_Reputation"}, {"name": category}],
        "attribute": [
            {
                "type": "Description",
                "value": format!("Kaspersky IP Reputation: {category}, first seen {first_seen}"),
            },
            {"type": "Source", "value": "Kaspersky IP Reputation Data Feed"},
        ],
    })
}
