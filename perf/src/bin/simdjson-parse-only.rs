//! The parse-only ceiling of the peer comparison: splits a feed's top-level array with feedpipe's
//! splitter and parses every element with simd-json on one thread, reusing the scratch buffer and
//! simd-json's `Buffers`. By default it parses in place into borrowed values, as feedpipe's
//! workers do; `--owned` parses into owned values instead, which allocates every string. It does
//! nothing with the values, so no pipeline that parses every record the same way can run faster
//! on one core.
//!
//! Usage: `simdjson-parse-only [--owned] FEED.json`

use std::fs::File;
use std::time::Instant;

use anyhow::{Context, bail};
use feedpipe_pipeline::splitter::{Frame, Splitter, SplitterConfig};
use simd_json::Buffers;

fn main() -> anyhow::Result<()> {
    let mut owned = false;
    let mut path = None;
    for argument in std::env::args_os().skip(1) {
        if argument == "--owned" {
            owned = true;
        } else if path.is_none() {
            path = Some(argument);
        } else {
            bail!("unexpected argument {argument:?}; usage: simdjson-parse-only [--owned] FEED");
        }
    }
    let Some(path) = path else {
        bail!("missing argument: the feed file to parse");
    };
    let file = File::open(&path).with_context(|| format!("failed to open {path:?}"))?;

    let started = Instant::now();
    let mut splitter = Splitter::new(file, SplitterConfig::default());
    let mut buffers = Buffers::default();
    let mut scratch = Vec::new();
    let mut records = 0u64;
    let mut invalid = 0u64;
    while let Some(frame) = splitter
        .next_frame()
        .with_context(|| format!("failed to split {path:?}"))?
    {
        let Frame::Element { bytes, .. } = frame else {
            invalid += 1;
            continue;
        };
        scratch.clear();
        scratch.extend_from_slice(&bytes);
        let parsed = if owned {
            simd_json::owned::to_value_with_buffers(&mut scratch, &mut buffers)
                .map(|value| drop(std::hint::black_box(value)))
        } else {
            simd_json::to_borrowed_value_with_buffers(&mut scratch, &mut buffers)
                .map(|value| drop(std::hint::black_box(value)))
        };
        match parsed {
            Ok(()) => records += 1,
            Err(_) => invalid += 1,
        }
    }

    let form = if owned { "owned" } else { "borrowed" };
    eprintln!(
        "Parsed {records} records into {form} values ({invalid} invalid or oversized) in {:.2} s.",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
