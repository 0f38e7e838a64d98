//! End-to-end tests of the core pipeline. Each test runs the real `feedpipe` binary on the sample
//! feeds in `examples/feeds/`, or on the public Kaspersky records kept beside the repository. It
//! checks the run summary, the indicators written by the file sink, the rejects file and the exit
//! status against the outcomes that `examples/README.md` states for every record.
//!
//! Expected values are written out here or read from the per-record lists of
//! `examples/README.md`, never computed by the code under test. Each run on the samples takes well
//! under a second.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};
use tempfile::TempDir;

/// Directory of the sample feeds, relative to the repository root.
const FEEDS: &str = "examples/feeds";

/// Known file-name prefixes that an unknown-feed error lists.
const PREFIXES: [&str; 24] = [
    "IP_Reputation_Data_Feed",
    "Ransomware_URL_Data_Feed",
    "Mobile_Botnet_Data_Feed",
    "Malicious_Hash_Data_Feed",
    "Mobile_Malicious_Hash_Data_Feed",
    "Malicious_URL_Exact_Data_Feed",
    "Phishing_URL_Exact_Data_Feed",
    "ICS_Hash_Data_Feed",
    "IoT_URL_Data_Feed",
    "APT_Hash_Data_Feed",
    "APT_IP_Data_Feed",
    "APT_URL_Data_Feed",
    "Vulnerability_Data_Feed",
    "ICS_Vulnerability_Data_Feed",
    "Botnet_CnC_URL_Exact_Data_Feed",
    "Malicious_URL_Data_Feed",
    "Phishing_URL_Data_Feed",
    "Botnet_CnC_URL_Data_Feed",
    "Demo_IP_Reputation_Data_Feed",
    "Demo_Botnet_CnC_URL_Data_Feed",
    "Demo_Malicious_Hash_Data_Feed",
    "Demo_APT_Hash_Data_Feed",
    "Demo_APT_IP_Data_Feed",
    "Demo_APT_URL_Data_Feed",
];

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `feedpipe` from the repository root with `args`, feeding `stdin` if given.
fn feedpipe(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_feedpipe"));
    command
        .args(args)
        .current_dir(repo_root())
        .env_remove("RUST_LOG")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start feedpipe");
    // Standard input is written from another thread, so that a child blocked on a full stdout or
    // stderr pipe cannot deadlock the test.
    let writer = stdin.map(|input| {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        let input = input.to_vec();
        std::thread::spawn(move || pipe.write_all(&input))
    });
    let output = child.wait_with_output().expect("wait for feedpipe");
    if let Some(writer) = writer {
        // The child may stop reading early (a usage error), which closes the pipe: not a failure.
        let _ = writer.join().expect("stdin writer thread");
    }
    output
}

/// One `feedpipe run` with the file sink writing into a fresh temporary directory, and its
/// parsed results.
struct Run {
    dir: TempDir,
    status: i32,
    stderr: String,
    /// The `--summary-json` document, or `Null` when the run wrote none.
    summary: Value,
    /// The JSONL output, one indicator object per line (empty when there is no output file).
    indicators: Vec<Value>,
    /// The rejects file beside the output (empty when there is none).
    rejects: Vec<Value>,
}

impl Run {
    /// Runs `feedpipe run ARGS --output DIR/indicators.jsonl --summary-json DIR/summary.json`.
    fn new(args: &[&str]) -> Run {
        Run::build(args, None, "indicators.jsonl")
    }

    fn with_stdin(args: &[&str], stdin: &[u8]) -> Run {
        Run::build(args, Some(stdin), "indicators.jsonl")
    }

    /// Runs with `--format csv` into `DIR/indicators.csv`; `indicators` stays empty.
    fn csv(args: &[&str]) -> Run {
        let mut all = args.to_vec();
        all.extend(["--format", "csv"]);
        Run::build(&all, None, "indicators.csv")
    }

    fn build(args: &[&str], stdin: Option<&[u8]>, output_name: &str) -> Run {
        let dir = tempfile::tempdir().expect("temporary directory");
        let output = dir.path().join(output_name);
        let summary = dir.path().join("summary.json");
        let mut all = vec!["run"];
        all.extend_from_slice(args);
        let output_arg = output.to_str().expect("UTF-8 path").to_owned();
        let summary_arg = summary.to_str().expect("UTF-8 path").to_owned();
        all.extend(["--output", &output_arg, "--summary-json", &summary_arg]);

        let result = feedpipe(&all, stdin);

        let summary = match std::fs::read_to_string(&summary) {
            Ok(text) => serde_json::from_str(&text).expect("summary is JSON"),
            Err(_) => Value::Null,
        };
        let indicators = if output_name.ends_with(".jsonl") {
            read_jsonl(&output)
        } else {
            Vec::new()
        };
        let rejects = read_jsonl(&dir.path().join("indicators.rejects.jsonl"));
        Run {
            dir,
            status: result.status.code().expect("exit status"),
            stderr: String::from_utf8_lossy(&result.stderr).into_owned(),
            summary,
            indicators,
            rejects,
        }
    }

    /// Returns the summary entry of the source whose path starts with `examples/feeds/FILE`.
    fn source(&self, file: &str) -> &Value {
        let path = format!("{FEEDS}/{file}");
        let matches: Vec<&Value> = self.summary["sources"]
            .as_array()
            .expect("sources array")
            .iter()
            .filter(|source| source["source"].as_str().unwrap().starts_with(&path))
            .collect();
        assert_eq!(matches.len(), 1, "summary sources for {file}");
        matches[0]
    }

    /// Returns the one indicator with this summary whose feed tag is `feed_tag`.
    fn indicator(&self, feed_tag: &str, summary: &str) -> &Value {
        let matches: Vec<&Value> = self
            .indicators
            .iter()
            .filter(|indicator| {
                indicator["summary"] == summary && indicator["tag"][1]["name"] == feed_tag
            })
            .collect();
        assert_eq!(matches.len(), 1, "indicators {feed_tag} {summary}");
        matches[0]
    }

    /// Returns the one reject of `file` (as the rejects file names it) at byte `offset`.
    fn reject(&self, file: &str, offset: u64) -> &Value {
        let matches: Vec<&Value> = self
            .rejects
            .iter()
            .filter(|reject| reject["file"] == file && reject["offset"] == offset)
            .collect();
        assert_eq!(matches.len(), 1, "rejects of {file} at byte {offset}");
        matches[0]
    }

    fn summaries(&self) -> Vec<&str> {
        self.indicators
            .iter()
            .map(|indicator| indicator["summary"].as_str().unwrap())
            .collect()
    }
}

fn read_jsonl(path: &Path) -> Vec<Value> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    text.lines()
        .map(|line| serde_json::from_str(line).expect("JSONL line"))
        .collect()
}

fn count(value: &Value) -> u64 {
    value.as_u64().expect("count")
}

fn reason_total(reasons: &Value) -> u64 {
    reasons
        .as_object()
        .expect("reasons object")
        .values()
        .map(count)
        .sum()
}

/// Checks `read = delivered + rejected + filtered` for every source and the total, that the
/// per-reason counts add up to the rejected and filtered counts, and that the totals are the sums
/// over the sources.
fn assert_accounting(summary: &Value) {
    let mut sums = [0_u64; 4];
    for source in summary["sources"].as_array().expect("sources array") {
        let name = &source["source"];
        let [read, delivered, rejected, filtered] =
            ["read", "delivered", "rejected", "filtered"].map(|key| count(&source[key]));
        assert_eq!(read, delivered + rejected + filtered, "identity for {name}");
        assert_eq!(
            reason_total(&source["rejected_by_reason"]),
            rejected,
            "rejected reasons for {name}"
        );
        assert_eq!(
            reason_total(&source["filtered_by_reason"]),
            filtered,
            "filtered reasons for {name}"
        );
        for (sum, value) in sums.iter_mut().zip([read, delivered, rejected, filtered]) {
            *sum += value;
        }
    }
    let totals = ["read", "delivered", "rejected", "filtered"].map(|key| count(&summary[key]));
    assert_eq!(totals, sums, "totals are the sums over the sources");
    assert_eq!(
        totals[0],
        totals[1] + totals[2] + totals[3],
        "total identity"
    );
    assert_eq!(summary["balanced"], true);
}

/// Expected outcome of one sample file in the whole-directory run.
struct FeedOutcome {
    file: &'static str,
    feed: &'static str,
    read: u64,
    delivered: u64,
    rejected: u64,
    filtered: u64,
    rejected_by: &'static [(&'static str, u64)],
    filtered_by: &'static [(&'static str, u64)],
}

const fn outcome(
    file: &'static str,
    feed: &'static str,
    [read, delivered, rejected, filtered]: [u64; 4],
    rejected_by: &'static [(&'static str, u64)],
    filtered_by: &'static [(&'static str, u64)],
) -> FeedOutcome {
    FeedOutcome {
        file,
        feed,
        read,
        delivered,
        rejected,
        filtered,
        rejected_by,
        filtered_by,
    }
}

/// The whole-directory run of `examples/feeds/`, as the table in `examples/README.md` states it.
const WHOLE_DIRECTORY: [FeedOutcome; 24] = [
    outcome(
        "IP_Reputation_Data_Feed_261201_0900.json",
        "IP Reputation",
        [15, 12, 3, 0],
        &[("invalid_ip", 2), ("missing_field", 1)],
        &[],
    ),
    outcome(
        "Demo_IP_Reputation_Data_Feed_261201_0900.json",
        "Demo IP Reputation",
        [7, 6, 1, 0],
        &[("invalid_ip", 1)],
        &[],
    ),
    outcome(
        "Malicious_URL_Exact_Data_Feed_261201_0900.json",
        "Malicious URL Exact",
        [12, 10, 2, 0],
        &[("invalid_mask", 1), ("missing_field", 1)],
        &[],
    ),
    outcome(
        "Malicious_URL_Data_Feed_261201_0900.json",
        "Malicious URL",
        [11, 0, 0, 11],
        &[],
        &[("superseded by Malicious URL Exact", 11)],
    ),
    outcome(
        "Phishing_URL_Exact_Data_Feed_261201_0900.json",
        "Phishing URL Exact",
        [8, 7, 1, 0],
        &[("missing_field", 1)],
        &[],
    ),
    outcome(
        "Phishing_URL_Data_Feed_261201_0900.json",
        "Phishing URL",
        [6, 0, 0, 6],
        &[],
        &[("superseded by Phishing URL Exact", 6)],
    ),
    outcome(
        "Botnet_CnC_URL_Exact_Data_Feed_261201_0900.json",
        "Botnet C&C URL Exact",
        [8, 8, 0, 0],
        &[],
        &[],
    ),
    outcome(
        "Botnet_CnC_URL_Data_Feed_261201_0900.json",
        "Botnet C&C URL",
        [6, 0, 0, 6],
        &[],
        &[("superseded by Botnet C&C URL Exact", 6)],
    ),
    outcome(
        "Demo_Botnet_CnC_URL_Data_Feed_261201_0900.json",
        "Demo Botnet C&C URL",
        [6, 5, 1, 0],
        &[("missing_field", 1)],
        &[],
    ),
    outcome(
        "Ransomware_URL_Data_Feed_261201_0900.json",
        "Ransomware URL",
        [7, 6, 1, 0],
        &[("wildcard_mask", 1)],
        &[],
    ),
    outcome(
        "IoT_URL_Data_Feed_261201_0900.json",
        "IoT URL",
        [7, 6, 1, 0],
        &[("invalid_mask", 1)],
        &[],
    ),
    outcome(
        "Mobile_Botnet_Data_Feed_261201_0900.json",
        "Mobile Botnet",
        [9, 7, 2, 0],
        &[("invalid_hash", 1), ("missing_field", 1)],
        &[],
    ),
    outcome(
        "Malicious_Hash_Data_Feed_261201_0900.json",
        "Malicious Hash",
        [10, 7, 3, 0],
        &[("invalid_hash", 2), ("missing_field", 1)],
        &[],
    ),
    outcome(
        "Mobile_Malicious_Hash_Data_Feed_261201_0900.json",
        "Mobile Malicious Hash",
        [7, 6, 1, 0],
        &[("invalid_hash", 1)],
        &[],
    ),
    outcome(
        "ICS_Hash_Data_Feed_261201_0900.json",
        "ICS Hash",
        [6, 5, 1, 0],
        &[("invalid_hash", 1)],
        &[],
    ),
    outcome(
        "APT_Hash_Data_Feed_261201_0900.json",
        "APT Hash",
        [7, 5, 2, 0],
        &[("invalid_hash", 1), ("missing_field", 1)],
        &[],
    ),
    outcome(
        "APT_IP_Data_Feed_261201_0900.json",
        "APT IP",
        [7, 5, 2, 0],
        &[("invalid_ip", 2)],
        &[],
    ),
    outcome(
        "APT_URL_Data_Feed_261201_0900.json",
        "APT URL",
        [7, 6, 1, 0],
        &[("wildcard_mask", 1)],
        &[],
    ),
    outcome(
        "Vulnerability_Data_Feed_261201_0900.json",
        "Vulnerability",
        [8, 0, 0, 8],
        &[],
        &[("superseded by ICS Vulnerability", 8)],
    ),
    outcome(
        "ICS_Vulnerability_Data_Feed_261201_0900.json",
        "ICS Vulnerability",
        [6, 5, 1, 0],
        &[("missing_field", 1)],
        &[],
    ),
    outcome(
        "Demo_Malicious_Hash_Data_Feed_261201_0900.json.gz",
        "Demo Malicious Hash",
        [6, 5, 1, 0],
        &[("invalid_hash", 1)],
        &[],
    ),
    outcome(
        "Demo_APT_Hash_Data_Feed_261201_0900.json",
        "Demo APT Hash",
        [6, 5, 1, 0],
        &[("invalid_hash", 1)],
        &[],
    ),
    outcome(
        "Demo_APT_IP_Data_Feed_261201_0900.json",
        "Demo APT IP",
        [6, 4, 2, 0],
        &[("invalid_ip", 1), ("missing_field", 1)],
        &[],
    ),
    outcome(
        "Demo_APT_URL_Data_Feed_261201_0900.zip",
        "Demo APT URL",
        [6, 5, 1, 0],
        &[("wildcard_mask", 1)],
        &[],
    ),
];

fn reasons(pairs: &[(&str, u64)]) -> Value {
    let map: serde_json::Map<String, Value> = pairs
        .iter()
        .map(|(reason, count)| (reason.to_string(), json!(count)))
        .collect();
    Value::Object(map)
}

#[test]
fn whole_directory_counts_per_feed() {
    let run = Run::new(&[FEEDS]);

    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    assert_eq!(
        run.summary["sources"].as_array().unwrap().len(),
        24,
        "one source per sample file"
    );
    for expected in &WHOLE_DIRECTORY {
        let source = run.source(expected.file);
        let file = expected.file;
        assert_eq!(source["feed"], expected.feed, "{file}");
        assert_eq!(source["read"], expected.read, "read of {file}");
        assert_eq!(
            source["delivered"], expected.delivered,
            "delivered of {file}"
        );
        assert_eq!(source["rejected"], expected.rejected, "rejected of {file}");
        assert_eq!(source["filtered"], expected.filtered, "filtered of {file}");
        assert_eq!(
            source["rejected_by_reason"],
            reasons(expected.rejected_by),
            "reject codes of {file}"
        );
        assert_eq!(
            source["filtered_by_reason"],
            reasons(expected.filtered_by),
            "filter reasons of {file}"
        );
        assert!(source.get("error").is_none(), "{file} stopped early");
    }
    assert_eq!(run.summary["read"], 184);
    assert_eq!(run.summary["delivered"], 125);
    assert_eq!(run.summary["rejected"], 28);
    assert_eq!(run.summary["filtered"], 31);
    assert_accounting(&run.summary);

    assert_eq!(
        run.indicators.len(),
        125,
        "one output line per delivered record"
    );
    assert_eq!(
        run.rejects.len(),
        28,
        "one rejects line per rejected record"
    );
    let rejects_path = run.dir.path().join("indicators.rejects.jsonl");
    assert_eq!(
        run.summary["rejects_file"],
        rejects_path.to_str().unwrap(),
        "the rejects file defaults to the output stem beside the output"
    );
}

#[test]
fn indicators_match_exact_objects() {
    let run = Run::new(&[FEEDS]);
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);

    // IPv4, popularity 1 → rating 5, threat_score → confidence, no last_seen → no lastSeen.
    assert_eq!(
        run.indicator("IP_Reputation", "203.0.113.9"),
        &json!({
            "type": "Address",
            "summary": "203.0.113.9",
            "rating": 5,
            "confidence": 80,
            "tag": [{"name": "Kaspersky"}, {"name": "IP_Reputation"}, {"name": "tor_exit_node"}],
            "attribute": [
                {"type": "Description", "value": "Kaspersky IP Reputation: tor_exit_node"},
                {"type": "Source", "value": "Kaspersky IP Reputation Data Feed (feed ID 68), file IP_Reputation_Data_Feed_261201_0900.json"},
                {"type": "Kaspersky Record ID", "value": "9876543211"},
                {"type": "Category", "value": "tor_exit_node"},
                {"type": "IP Geo", "value": "hu"}
            ],
            "firstSeen": "2026-11-16T12:09:00Z"
        })
    );

    // IPv6 given uncompressed in upper case: compressed and lower-cased.
    assert_eq!(
        run.indicator("IP_Reputation", "2001:db8::ff00:42:8329"),
        &json!({
            "type": "Address",
            "summary": "2001:db8::ff00:42:8329",
            "rating": 4,
            "confidence": 88,
            "tag": [
                {"name": "Kaspersky"},
                {"name": "IP_Reputation"},
                {"name": "malware_hosting"},
                {"name": "HEUR:Trojan-Downloader.Win32.Agent.gen"}
            ],
            "attribute": [
                {"type": "Description", "value": "Kaspersky IP Reputation: malware_hosting"},
                {"type": "Source", "value": "Kaspersky IP Reputation Data Feed (feed ID 68), file IP_Reputation_Data_Feed_261201_0900.json"},
                {"type": "Kaspersky Record ID", "value": "9876543214"},
                {"type": "Category", "value": "malware_hosting"},
                {"type": "IP Geo", "value": "nl"},
                {"type": "Files", "value": "MD5: 7F31FB6D6F86DBC6A2A3A6A6BCB309B4, SHA1: 80EF9EC0D60073C8D74151FACEA4686CE44916B1, SHA256: 116352B9AA7C09543C272BBAB1DE38E5A04356303AC14473C696560FEC3EB7FE, threat: HEUR:Trojan-Downloader.Win32.Agent.gen"}
            ],
            "firstSeen": "2026-11-27T10:30:00Z",
            "lastSeen": "2026-11-30T22:10:00Z"
        })
    );

    // IDN mask `bücher.example`: a Host in punycode; the mask attribute keeps the original.
    assert_eq!(
        run.indicator("Malicious_URL_Exact", "xn--bcher-kva.example"),
        &json!({
            "type": "Host",
            "summary": "xn--bcher-kva.example",
            "rating": 2,
            "confidence": 100,
            "tag": [{"name": "Kaspersky"}, {"name": "Malicious_URL_Exact"}, {"name": "malware"}],
            "attribute": [
                {"type": "Description", "value": "Kaspersky Malicious URL Exact: malware"},
                {"type": "Source", "value": "Kaspersky Malicious URL Exact Data Feed (feed ID 117), file Malicious_URL_Exact_Data_Feed_261201_0900.json"},
                {"type": "Kaspersky Record ID", "value": "61000004"},
                {"type": "Kaspersky Mask Type", "value": "1"},
                {"type": "Kaspersky Mask", "value": "bücher.example"},
                {"type": "Category", "value": "malware"},
                {"type": "Geo", "value": "de, at"},
                {"type": "Whois", "value": "domain: bücher.example\ncreated: 11.04.2024\nupdated: 03.10.2026\nexpires: 11.04.2027\nname: REDACTED FOR PRIVACY\norg: Bücher Versand GmbH\ncountry: DE\ncity: REDACTED FOR PRIVACY\nregistrar_name: Example Registrar, Inc.\nregistrar_email: abuse@registrar.example\nNS: ns1.dns-host.example, ns2.dns-host.example\nNS_ips: 198.51.100.201, 198.51.100.202"}
            ],
            "firstSeen": "2026-11-21T13:13:00Z",
            "lastSeen": "2026-11-29T13:13:00Z"
        })
    );

    // `host/*`: a Host of the named host.
    assert_eq!(
        run.indicator("Ransomware_URL", "decrypt-help.example.net"),
        &json!({
            "type": "Host",
            "summary": "decrypt-help.example.net",
            "rating": 4,
            "confidence": 100,
            "tag": [
                {"name": "Kaspersky"},
                {"name": "Ransomware_URL"},
                {"name": "Trojan-Ransom.Win32.Phobos.vho"}
            ],
            "attribute": [
                {"type": "Description", "value": "Kaspersky Ransomware URL"},
                {"type": "Source", "value": "Kaspersky Ransomware URL Data Feed (feed ID 99), file Ransomware_URL_Data_Feed_261201_0900.json"},
                {"type": "Kaspersky Record ID", "value": "99000003"},
                {"type": "Kaspersky Mask Type", "value": "20"},
                {"type": "Kaspersky Mask", "value": "decrypt-help.example.net/*"},
                {"type": "Geo", "value": "fr"},
                {"type": "Files", "value": "MD5: 8C6A7AEC1852AD358DDF3A79A9125991, threat: Trojan-Ransom.Win32.Phobos.vho"}
            ],
            "firstSeen": "2026-11-26T03:00:00Z",
            "lastSeen": "2026-11-30T03:00:00Z"
        })
    );

    // `*.domain`: a Host of the domain. APT records have no popularity, threat score or dates:
    // the default rating 3 and confidence 100.
    assert_eq!(
        run.indicator("APT_URL", "cdn-apt.example"),
        &json!({
            "type": "Host",
            "summary": "cdn-apt.example",
            "rating": 3,
            "confidence": 100,
            "tag": [{"name": "Kaspersky"}, {"name": "APT_URL"}],
            "attribute": [
                {"type": "Description", "value": "Kaspersky APT URL"},
                {"type": "Source", "value": "Kaspersky APT URL Data Feed (feed ID 91), file APT_URL_Data_Feed_261201_0900.json"},
                {"type": "Kaspersky Record ID", "value": "91000003"},
                {"type": "Kaspersky Mask Type", "value": "20"},
                {"type": "Kaspersky Mask", "value": "*.cdn-apt.example"},
                {"type": "Detection date", "value": "11.11.2026"},
                {"type": "Publication name", "value": "Operation Example Lantern"},
                {"type": "Publication id", "value": "a1b2c3d4e5"},
                {"type": "Actors", "value": "ExampleActor, OtherActor"},
                {"type": "Industries", "value": "Government, Energy, Other"}
            ]
        })
    );

    // Host and path: `http://` in front, host lower-cased, path case kept.
    assert_eq!(
        run.indicator(
            "Malicious_URL_Exact",
            "http://cdn.example.net/Loader/Stage2.js"
        ),
        &json!({
            "type": "URL",
            "summary": "http://cdn.example.net/Loader/Stage2.js",
            "rating": 5,
            "confidence": 100,
            "tag": [{"name": "Kaspersky"}, {"name": "Malicious_URL_Exact"}, {"name": "malware"}],
            "attribute": [
                {"type": "Description", "value": "Kaspersky Malicious URL Exact: malware"},
                {"type": "Source", "value": "Kaspersky Malicious URL Exact Data Feed (feed ID 117), file Malicious_URL_Exact_Data_Feed_261201_0900.json"},
                {"type": "Kaspersky Record ID", "value": "61000006"},
                {"type": "Kaspersky Mask Type", "value": "1"},
                {"type": "Kaspersky Mask", "value": "Cdn.EXAMPLE.net/Loader/Stage2.js"},
                {"type": "Category", "value": "malware"},
                {"type": "Geo", "value": "us"},
                {"type": "IP", "value": "203.0.113.40"}
            ],
            "firstSeen": "2026-11-23T17:00:00Z",
            "lastSeen": "2026-11-30T17:00:00Z"
        })
    );

    // Trailing `/*` cut to the prefix path `/fw/`; popularity 0 is out of range: default rating,
    // and the value is kept as an attribute.
    assert_eq!(
        run.indicator("IOT_URL", "http://update.example.com/fw/"),
        &json!({
            "type": "URL",
            "summary": "http://update.example.com/fw/",
            "rating": 3,
            "confidence": 100,
            "tag": [{"name": "Kaspersky"}, {"name": "IOT_URL"}],
            "attribute": [
                {"type": "Description", "value": "Kaspersky IoT URL"},
                {"type": "Source", "value": "Kaspersky IoT URL Data Feed (feed ID 126), file IoT_URL_Data_Feed_261201_0900.json"},
                {"type": "Kaspersky Record ID", "value": "126000007"},
                {"type": "Kaspersky Mask Type", "value": "1"},
                {"type": "Kaspersky Mask", "value": "update.example.com/fw/*"},
                {"type": "Popularity", "value": "0"},
                {"type": "Geo", "value": "us"}
            ],
            "firstSeen": "2026-11-27T22:00:00Z",
            "lastSeen": "2026-11-30T22:00:00Z"
        })
    );

    // All three hashes, given in upper case: lower-cased and joined `md5 : sha1 : sha256`.
    assert_eq!(
        run.indicator("Malicious_Hash", "88b1f1085c220fee6957f82553dd1c96 : ece29031d746a6c7458d19471fae7004d23f4246 : 490db50cc9e4405bda859c1a6a938dc9da427c01c435fece666ce40b17ea637f"),
        &json!({
            "type": "File",
            "summary": "88b1f1085c220fee6957f82553dd1c96 : ece29031d746a6c7458d19471fae7004d23f4246 : 490db50cc9e4405bda859c1a6a938dc9da427c01c435fece666ce40b17ea637f",
            "rating": 3,
            "confidence": 100,
            "tag": [
                {"name": "Kaspersky"},
                {"name": "Malicious_Hash"},
                {"name": "HEUR:Trojan-Ransom.Win32.Generic"},
                {"name": "PE"}
            ],
            "attribute": [
                {"type": "Description", "value": "Kaspersky Malicious Hash: HEUR:Trojan-Ransom.Win32.Generic"},
                {"type": "Source", "value": "Kaspersky Malicious Hash Data Feed (feed ID 66), file Malicious_Hash_Data_Feed_261201_0900.json"},
                {"type": "Kaspersky Record ID", "value": "301"},
                {"type": "File Type", "value": "PE"},
                {"type": "File Size", "value": "245760"},
                {"type": "Threat", "value": "HEUR:Trojan-Ransom.Win32.Generic"},
                {"type": "Geo", "value": "ru, br, in"},
                {"type": "Urls", "value": "url: dl.example.net/a.exe"}
            ],
            "firstSeen": "2026-11-12T07:41:00Z",
            "lastSeen": "2026-11-30T22:05:00Z"
        })
    );

    // Only an MD5, in mixed case.
    assert_eq!(
        run.indicator("Malicious_Hash", "37b619ef2c0337507b2a563cb83b9dca"),
        &json!({
            "type": "File",
            "summary": "37b619ef2c0337507b2a563cb83b9dca",
            "rating": 1,
            "confidence": 100,
            "tag": [
                {"name": "Kaspersky"},
                {"name": "Malicious_Hash"},
                {"name": "not-a-virus:HEUR:AdWare.Win32.Agent.gen"},
                {"name": "PE"}
            ],
            "attribute": [
                {"type": "Description", "value": "Kaspersky Malicious Hash: not-a-virus:HEUR:AdWare.Win32.Agent.gen"},
                {"type": "Source", "value": "Kaspersky Malicious Hash Data Feed (feed ID 66), file Malicious_Hash_Data_Feed_261201_0900.json"},
                {"type": "Kaspersky Record ID", "value": "303"},
                {"type": "File Type", "value": "PE"},
                {"type": "File Size", "value": "12288"},
                {"type": "Threat", "value": "not-a-virus:HEUR:AdWare.Win32.Agent.gen"},
                {"type": "Geo", "value": "us"}
            ],
            "firstSeen": "2026-11-14T02:00:00Z",
            "lastSeen": "2026-11-30T02:00:00Z"
        })
    );

    // Severity Low with a null popularity: rating 1 from the severity, not the default 3.
    assert_eq!(
        run.indicator("ICS_Vulnerability", "62f1ff9a54d80af45862275febbd9bb1"),
        &json!({
            "type": "File",
            "summary": "62f1ff9a54d80af45862275febbd9bb1",
            "rating": 1,
            "confidence": 100,
            "tag": [{"name": "Kaspersky"}, {"name": "ICS_Vulnerability"}],
            "attribute": [
                {"type": "Description", "value": "Kaspersky ICS Vulnerability"},
                {"type": "Source", "value": "Kaspersky ICS Vulnerability Data Feed (feed ID 151), file ICS_Vulnerability_Data_Feed_261201_0900.json"},
                {"type": "Kaspersky Record ID", "value": "151000005"},
                {"type": "Severity", "value": "Low"},
                {"type": "Additional Analysis and Context", "value": "product: Example Historian"}
            ],
            "firstSeen": "2026-11-15T08:00:00Z"
        })
    );

    // Unparsable `first_seen` and `last_seen`: no firstSeen or lastSeen, the attributes keep the
    // text. Unknown fields are kept as context.
    assert_eq!(
        run.indicator("IP_Reputation", "198.51.100.141"),
        &json!({
            "type": "Address",
            "summary": "198.51.100.141",
            "rating": 3,
            "confidence": 82,
            "tag": [{"name": "Kaspersky"}, {"name": "IP_Reputation"}, {"name": "malware"}],
            "attribute": [
                {"type": "Description", "value": "Kaspersky IP Reputation: malware"},
                {"type": "Source", "value": "Kaspersky IP Reputation Data Feed (feed ID 68), file IP_Reputation_Data_Feed_261201_0900.json"},
                {"type": "Kaspersky Record ID", "value": "9876543223"},
                {"type": "Category", "value": "malware"},
                {"type": "First Seen", "value": "yesterday"},
                {"type": "Last Seen", "value": "31.02.2025 10:00"},
                {"type": "IP Geo", "value": "pl"},
                {"type": "Additional Analysis and Context", "value": "x_sighting_source: honeypot-eu-3"},
                {"type": "Additional Analysis and Context", "value": "x_confidence_reason:\nmodel: v7\nvotes: 12"}
            ]
        })
    );

    // A 135-character category of Cyrillic and `ÄÖÜ` (242 bytes): the tag is its first 128
    // characters, while the attributes keep the whole value.
    let long_category = "malware-распространение-через-фишинговые-письма-с-вложениями-zip-и-ссылками-на-поддельные-страницы-входа-банков-и-почтовых-сервисов-ÄÖÜ";
    let cut_tag = "malware-распространение-через-фишинговые-письма-с-вложениями-zip-и-ссылками-на-поддельные-страницы-входа-банков-и-почтовых-серви";
    assert_eq!(long_category.chars().count(), 135);
    assert_eq!(cut_tag.chars().count(), 128);
    assert_eq!(
        run.indicator("IP_Reputation", "198.51.100.140"),
        &json!({
            "type": "Address",
            "summary": "198.51.100.140",
            "rating": 5,
            "confidence": 95,
            "tag": [{"name": "Kaspersky"}, {"name": "IP_Reputation"}, {"name": cut_tag}],
            "attribute": [
                {"type": "Description", "value": format!("Kaspersky IP Reputation: {long_category}")},
                {"type": "Source", "value": "Kaspersky IP Reputation Data Feed (feed ID 68), file IP_Reputation_Data_Feed_261201_0900.json"},
                {"type": "Kaspersky Record ID", "value": "9876543222"},
                {"type": "Category", "value": long_category},
                {"type": "IP Geo", "value": "ua"}
            ],
            "firstSeen": "2026-11-20T16:45:00Z",
            "lastSeen": "2026-11-30T16:45:00Z"
        })
    );

    // An ASCII `files[].threat` of 168 characters: its tag is the first 128.
    let iot = run.indicator("IOT_URL", "http://iot-dl.example.net/sh");
    assert_eq!(
        iot["tag"],
        json!([
            {"name": "Kaspersky"},
            {"name": "IOT_URL"},
            {"name": "HEUR:Trojan.Linux.Agent.gen xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}
        ])
    );
    assert_eq!(iot["tag"][2]["name"].as_str().unwrap().len(), 128);
}

#[test]
fn delivered_summaries_per_feed() {
    let run = Run::new(&[FEEDS]);
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);

    let expected: [(&str, &[&str]); 4] = [
        (
            // An IPv4-mapped IPv6 address stays IPv6.
            "Demo_APT_IP_Data_Feed_261201_0900.json",
            &[
                "192.0.2.4",
                "198.51.100.44",
                "2001:db8::44",
                "::ffff:192.0.2.45",
            ],
        ),
        (
            // Record 7 has an empty `MD5`, which counts as absent: its File has the SHA1 only.
            "Mobile_Malicious_Hash_Data_Feed_261201_0900.json",
            &[
                "77b8bf076ca108500aecf2a4228a4234 : db0066849abf390df19224092b4e5d4e9437bd7d27460c9344faca5f4723cdda",
                "143a033cb7ca8e5e32e2858727285587",
                "4f3677ff52ad13be6ab178f4f46bb1ca0ececd5a",
                "a7311560dad1c21555573f2263209e19",
                "108956e4a28ad12943bdd6552fbb3cf8 : ad748bc87cf81d7c58fffa51bcecb03890c94d37",
                "62c992ac667caf88efcc090d0de9221105978969",
            ],
        ),
        (
            "Demo_APT_URL_Data_Feed_261201_0900.zip:Demo_APT_URL_Data_Feed_261201_0900.json",
            &[
                "b046f5b25458638f6705d53539c79f62.example",
                "demo-apt.example.net",
                "demo-apt.example.org",
                "http://files.demo-apt.example/share/doc.lnk",
                "demo-apt.invalid",
            ],
        ),
        (
            "Demo_Malicious_Hash_Data_Feed_261201_0900.json.gz",
            &[
                "7ea12b042e218d347e5cd97fad3a8132 : acfd1122294c0beb86eb3b7958a7850d6bd9aa17 : 7a93533e688163dedb3ed50b8f2a89ada5e66b8cfe68a65f9c9d302965022607",
                "6c2f0bc09b37a909b86514aebe3f8308",
                "468802f94b1d04c111c68fc770a29bae17305b1da1a0fc825e1f38a1c1175318",
                "73f94f35a2dac50835a70a4095206e2e : 931d00fdb218b6571d11b9dd591500a59699019d",
                "423036ad6594967808640daad330bee6 : 9911bb4a9fdd2852ed5c41d9b2b5c87529165a18",
            ],
        ),
    ];
    for (file, summaries) in expected {
        // The Source attribute ends with the name of the file the record came from.
        let source_suffix = format!("file {file}");
        let mut got: Vec<&str> = run
            .indicators
            .iter()
            .filter(|indicator| {
                indicator["attribute"][1]["type"] == "Source"
                    && indicator["attribute"][1]["value"]
                        .as_str()
                        .unwrap()
                        .ends_with(&source_suffix)
            })
            .map(|indicator| indicator["summary"].as_str().unwrap())
            .collect();
        let mut want = summaries.to_vec();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want, "{file}");
    }
}

/// Reads the bytes that the rejects file's `offset` refers to: the feed file after
/// decompression.
fn feed_bytes(file: &str) -> Vec<u8> {
    let path = repo_root().join(file);
    let raw = std::fs::read(&path).expect("read sample feed");
    if file.ends_with(".gz") {
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(raw.as_slice())
            .read_to_end(&mut text)
            .expect("gunzip sample");
        return text;
    }
    raw
}

#[test]
fn rejects_point_at_their_elements() {
    let run = Run::new(&[FEEDS]);
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);

    // (file, offset, code, field, value the reason names: empty for a missing field)
    let cases = [
        (
            "IP_Reputation_Data_Feed_261201_0900.json",
            4014,
            "invalid_ip",
            "ip",
            "203.0.113.300",
        ),
        (
            "IP_Reputation_Data_Feed_261201_0900.json",
            4303,
            "missing_field",
            "ip",
            "",
        ),
        (
            "IP_Reputation_Data_Feed_261201_0900.json",
            5382,
            "invalid_ip",
            "ip",
            "3405803777",
        ),
        (
            "Malicious_URL_Exact_Data_Feed_261201_0900.json",
            7274,
            "invalid_mask",
            "mask",
            "12345",
        ),
        (
            "APT_URL_Data_Feed_261201_0900.json",
            1543,
            "wildcard_mask",
            "mask",
            "docs.example.net/d*c/view",
        ),
        (
            "Malicious_Hash_Data_Feed_261201_0900.json",
            1762,
            "invalid_hash",
            "SHA1",
            "XYZB9748B3CA60135EC4A9B27BF20CF757905D9A",
        ),
        (
            "IoT_URL_Data_Feed_261201_0900.json",
            2570,
            "invalid_mask",
            "mask",
            "203.0.113.256/bins/mips",
        ),
        (
            "APT_IP_Data_Feed_261201_0900.json",
            1377,
            "invalid_ip",
            "ip",
            r#"invalid IP address "" in field"#,
        ),
        (
            "Demo_APT_IP_Data_Feed_261201_0900.json",
            679,
            "invalid_ip",
            "ip",
            r#""203.0.113.44 ""#,
        ),
        (
            "Demo_Malicious_Hash_Data_Feed_261201_0900.json.gz",
            1320,
            "invalid_hash",
            "MD5",
            "D38C783AC246AD62A10E5C0360CB9C-1",
        ),
    ];
    for (file, offset, code, field, value) in cases {
        let path = format!("{FEEDS}/{file}");
        let reject = run.reject(&path, offset);
        let feed = WHOLE_DIRECTORY
            .iter()
            .find(|outcome| outcome.file == file)
            .map(|outcome| outcome.feed)
            .unwrap();
        assert_eq!(reject["feed"], feed, "{file} at {offset}");
        assert_eq!(reject["code"], code, "{file} at {offset}");
        let reason = reject["reason"].as_str().unwrap();
        assert!(
            reason.contains(&format!("\"{field}\"")),
            "reason names the field {field}: {reason}"
        );
        assert!(
            reason.contains(value),
            "reason names the value {value}: {reason}"
        );

        let record = reject["record"].as_str().unwrap();
        assert!(record.starts_with('{'), "{file} at {offset}: {record}");
        serde_json::from_str::<Value>(record).expect("the record is the whole element");
        let bytes = feed_bytes(&path);
        let start = usize::try_from(offset).unwrap();
        assert_eq!(
            &bytes[start..start + record.len()],
            record.as_bytes(),
            "{file}: the element starts at byte {offset}"
        );
    }

    let feeds: Vec<&str> = run
        .rejects
        .iter()
        .map(|reject| reject["feed"].as_str().unwrap())
        .collect();
    assert_eq!(
        feeds
            .iter()
            .filter(|feed| **feed == "IP Reputation")
            .count(),
        3
    );
    assert!(
        run.rejects
            .iter()
            .all(|reject| reject["feed"] != "Vulnerability")
    );
}

#[test]
fn precedence_filters_ordinary_feeds() {
    let run = Run::new(&[
        "examples/feeds/Vulnerability_Data_Feed_261201_0900.json",
        "examples/feeds/ICS_Vulnerability_Data_Feed_261201_0900.json",
        "examples/feeds/Malicious_URL_Data_Feed_261201_0900.json",
        "-v",
    ]);
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    // With -v the log names the superseding feed.
    let skip_line = run
        .stderr
        .lines()
        .find(|line| line.contains("Skipping feed"))
        .unwrap_or_else(|| panic!("no skip line in stderr: {}", run.stderr));
    assert!(skip_line.contains("Vulnerability_Data_Feed"), "{skip_line}");
    assert!(skip_line.contains("\"ICS Vulnerability\""), "{skip_line}");

    let vulnerability = run.source("Vulnerability_Data_Feed_261201_0900.json");
    assert_eq!(vulnerability["filtered"], 8);
    assert_eq!(
        vulnerability["filtered_by_reason"],
        json!({"superseded by ICS Vulnerability": 8})
    );
    // Without its Exact version beside it, the ordinary Malicious URL feed is processed.
    let malicious_url = run.source("Malicious_URL_Data_Feed_261201_0900.json");
    assert_eq!(malicious_url["delivered"], 8);
    assert_eq!(malicious_url["filtered"], 0);
    assert_eq!(run.summary["delivered"], 13);
    assert_eq!(run.summary["filtered"], 8);
    assert_accounting(&run.summary);
}

#[test]
fn ordinary_feeds_alone_are_delivered() {
    // (file, feed tag, delivered, rejected, rejected by reason)
    let cases = [
        (
            "Malicious_URL_Data_Feed_261201_0900.json",
            "Malicious_URL",
            8,
            3,
            json!({"wildcard_mask": 3}),
        ),
        (
            "Phishing_URL_Data_Feed_261201_0900.json",
            "Phishing_URL",
            5,
            1,
            json!({"wildcard_mask": 1}),
        ),
        (
            "Botnet_CnC_URL_Data_Feed_261201_0900.json",
            "Botnet_CnC_URL",
            5,
            1,
            json!({"wildcard_mask": 1}),
        ),
        (
            "Vulnerability_Data_Feed_261201_0900.json",
            "Vulnerability",
            7,
            1,
            json!({"invalid_hash": 1}),
        ),
    ];
    for (file, feed_tag, delivered, rejected, by_reason) in cases {
        let run = Run::new(&[&format!("{FEEDS}/{file}")]);
        assert_eq!(run.status, 0, "{file}: {}", run.stderr);
        let source = run.source(file);
        assert_eq!(source["delivered"], delivered, "{file}");
        assert_eq!(source["rejected"], rejected, "{file}");
        assert_eq!(source["filtered"], 0, "{file}");
        assert_eq!(source["rejected_by_reason"], by_reason, "{file}");
        assert_accounting(&run.summary);
        assert!(
            run.indicators
                .iter()
                .all(|indicator| indicator["tag"][1]["name"] == feed_tag),
            "{file}"
        );
    }

    // A trailing `/*` after a path is cut to the prefix path, slash kept.
    let run = Run::new(&["examples/feeds/Malicious_URL_Data_Feed_261201_0900.json"]);
    assert_eq!(
        run.summaries(),
        [
            "http://malware.example.com/dl/payload.exe",
            "tracker.example.net",
            "badcdn.example",
            "ads.example.org",
            "http://dl.example.com/files/",
            "http://example.com/?q=hello%20world",
            "2001:db8::bad",
            "shop.example.com",
        ]
    );

    // Severity sets the rating over popularity: High → 4 where popularity 5 would give 1.
    let run = Run::new(&["examples/feeds/Vulnerability_Data_Feed_261201_0900.json"]);
    assert_eq!(
        run.indicator("Vulnerability", "cca469f165f192d5b5443c15fcf4af40"),
        &json!({
            "type": "File",
            "summary": "cca469f165f192d5b5443c15fcf4af40",
            "rating": 4,
            "confidence": 100,
            "tag": [
                {"name": "Kaspersky"},
                {"name": "Vulnerability"},
                {"name": "Exploit.MSOffice.CVE-2017-11882.gen"},
                {"name": "HEUR:Exploit.MSOffice.Generic"}
            ],
            "attribute": [
                {"type": "Description", "value": "Kaspersky Vulnerability"},
                {"type": "Source", "value": "Kaspersky Vulnerability Data Feed (feed ID 137), file Vulnerability_Data_Feed_261201_0900.json"},
                {"type": "Kaspersky Record ID", "value": "5501"},
                {"type": "Severity", "value": "High"},
                {"type": "CVE", "value": "CVE-2017-11882"},
                {"type": "Additional Analysis and Context", "value": "product: Microsoft Office"},
                {"type": "Exploits", "value": "MD5: 55A9DB663C62E582FBB9B145A048C2DD, SHA256: B2324EF8B19FFF62589DB83B582EA46ECBA466A9A887A15141E2FDDD6AE44D31, threat: Exploit.MSOffice.CVE-2017-11882.gen\nMD5: 3A11F22A6941C5A25E7867F701E5113E, SHA256: 0E08AC211FD146F6839573A0A202494FC216824C69540A47A4016B903EB9C082, threat: Exploit.MSOffice.CVE-2017-11882.gen\nMD5: 02EBEBBAB869EEECF2A870C1D074A392, SHA256: 8B09015FE18E127EE2CDFE9C919847202C240ED44E2473514DB0A0E2A5E5585C, threat: HEUR:Exploit.MSOffice.Generic"},
                {"type": "Popularity", "value": "5"}
            ],
            "firstSeen": "2026-11-02T11:00:00Z",
            "lastSeen": "2026-11-30T11:00:00Z"
        })
    );
    let ratings: Vec<(&str, u64)> = run
        .indicators
        .iter()
        .map(|indicator| {
            let summary = indicator["summary"].as_str().unwrap();
            (&summary[..8], indicator["rating"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(
        ratings,
        [
            ("cca469f1", 4), // High, popularity 5
            ("c4aef91e", 1), // Low, popularity 1
            ("6d2e10fd", 2), // Medium, popularity 1
            ("3bac70aa", 3), // Warning, popularity 5
            ("96917214", 5), // Critical, popularity 5
            ("5703f396", 4), // no severity, popularity 2
            ("7c9c233d", 5), // unknown severity `Moderate`, popularity 1
        ]
    );
}

#[test]
fn gzip_and_zip_samples_are_read() {
    let run = Run::new(&[
        "examples/feeds/Demo_Malicious_Hash_Data_Feed_261201_0900.json.gz",
        "examples/feeds/Demo_APT_URL_Data_Feed_261201_0900.zip",
    ]);
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);

    let gzip = run.source("Demo_Malicious_Hash_Data_Feed_261201_0900.json.gz");
    assert_eq!(gzip["feed"], "Demo Malicious Hash");
    assert_eq!(gzip["read"], 6);
    assert_eq!(gzip["delivered"], 5);
    let zip = run.source("Demo_APT_URL_Data_Feed_261201_0900.zip");
    assert_eq!(zip["feed"], "Demo APT URL");
    assert_eq!(
        zip["source"],
        "examples/feeds/Demo_APT_URL_Data_Feed_261201_0900.zip:Demo_APT_URL_Data_Feed_261201_0900.json"
    );
    assert_eq!(zip["read"], 6);
    assert_eq!(zip["delivered"], 5);
    assert_accounting(&run.summary);

    // The reject inside the archive points into the archived JSON file.
    let reject = run.reject(
        "examples/feeds/Demo_APT_URL_Data_Feed_261201_0900.zip:Demo_APT_URL_Data_Feed_261201_0900.json",
        1110,
    );
    assert_eq!(reject["code"], "wildcard_mask");
    let archive = std::fs::File::open(
        repo_root().join("examples/feeds/Demo_APT_URL_Data_Feed_261201_0900.zip"),
    )
    .unwrap();
    let mut archive = zip::ZipArchive::new(archive).expect("zip archive");
    let mut inner = archive
        .by_name("Demo_APT_URL_Data_Feed_261201_0900.json")
        .expect("archived feed");
    let mut bytes = Vec::new();
    inner.read_to_end(&mut bytes).unwrap();
    let record = reject["record"].as_str().unwrap();
    assert_eq!(&bytes[1110..1110 + record.len()], record.as_bytes());
}

#[test]
fn stdin_with_feed_id() {
    let input = std::fs::read(
        repo_root()
            .join(FEEDS)
            .join("IP_Reputation_Data_Feed_261201_0900.json"),
    )
    .unwrap();
    let run = Run::with_stdin(&["-", "--feed", "68"], &input);
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);

    let sources = run.summary["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 1);
    assert_eq!(sources[0]["feed"], "IP Reputation");
    assert_eq!(sources[0]["source"], "-");
    assert_eq!(sources[0]["read"], 15);
    assert_eq!(sources[0]["delivered"], 12);
    assert_eq!(sources[0]["rejected"], 3);
    assert_accounting(&run.summary);
    let reject = run.reject("-", 4014);
    assert_eq!(reject["code"], "invalid_ip");
}

#[test]
fn null_sink_keeps_file_sink_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("indicators.jsonl");
    let output_arg = output.to_str().unwrap();
    let feed = "examples/feeds/IP_Reputation_Data_Feed_261201_0900.json";

    let first = feedpipe(&["run", feed, "--output", output_arg], None);
    assert_eq!(first.status.code(), Some(0));
    let file_rejects = read_jsonl(&dir.path().join("indicators.rejects.jsonl"));
    assert_eq!(file_rejects.len(), 3);

    // The null sink writes no output file, so its rejects go beside it under the sink's name.
    let second = feedpipe(
        &["run", feed, "--sink", "null", "--output", output_arg],
        None,
    );
    assert_eq!(second.status.code(), Some(0));
    let file_rejects_after = read_jsonl(&dir.path().join("indicators.rejects.jsonl"));
    assert_eq!(file_rejects_after, file_rejects);
    let null_rejects = read_jsonl(&dir.path().join("null.rejects.jsonl"));
    assert_eq!(null_rejects.len(), 3);
}

#[test]
fn stdin_zip_is_named() {
    let input = std::fs::read(
        repo_root()
            .join(FEEDS)
            .join("Demo_APT_URL_Data_Feed_261201_0900.zip"),
    )
    .unwrap();
    let run = Run::with_stdin(&["-", "--feed", "Demo APT URL"], &input);
    assert_eq!(run.status, 3, "stderr: {}", run.stderr);
    assert!(run.stderr.contains("zip archive"), "stderr: {}", run.stderr);
    assert!(
        run.stderr.contains("name the .zip file"),
        "stderr: {}",
        run.stderr
    );
}

/// Returns the IP Reputation sample feed compressed with gzip.
fn gzip_sample_feed() -> Vec<u8> {
    let plain = std::fs::read(
        repo_root()
            .join(FEEDS)
            .join("IP_Reputation_Data_Feed_261201_0900.json"),
    )
    .unwrap();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(&plain).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn gzip_with_trailing_bytes_names_the_gzip_stream() {
    let mut input = gzip_sample_feed();
    input.extend_from_slice(b"garbage\n");
    let dir = TempDir::new().unwrap();
    let feed = dir
        .path()
        .join("IP_Reputation_Data_Feed_261201_0900.json.gz");
    std::fs::write(&feed, input).unwrap();

    let output = feedpipe(
        &[
            "run",
            feed.to_str().unwrap(),
            "--sink",
            "null",
            "--rejects",
            dir.path().join("rejects.jsonl").to_str().unwrap(),
        ],
        None,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("gzip stream:"), "{stderr}");
    assert!(
        stderr.contains("followed by bytes that are not gzip"),
        "{stderr}"
    );
}

#[test]
fn rejects_to_stdout_is_a_usage_error() {
    let output = feedpipe(&["run", FEEDS, "--sink", "null", "--rejects", "-"], None);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot be standard output"), "{stderr}");
    assert!(!repo_root().join("-").exists());
}

#[test]
fn early_exit_leaves_summary_file_alone() {
    // The ThreatConnect sink without an API URL fails after the outputs are checked.
    let dir = tempfile::tempdir().unwrap();
    let earlier = dir.path().join("earlier.json");
    std::fs::write(&earlier, "{\"earlier\": true}").unwrap();
    let fresh = dir.path().join("fresh.json");
    for summary in [&earlier, &fresh] {
        let output = feedpipe(
            &[
                "run",
                "examples/feeds/APT_IP_Data_Feed_261201_0900.json",
                "--sink",
                "threatconnect",
                "--rejects",
                dir.path().join("rejects.jsonl").to_str().unwrap(),
                "--summary-json",
                summary.to_str().unwrap(),
            ],
            None,
        );
        assert_eq!(output.status.code(), Some(2));
    }
    assert_eq!(
        std::fs::read_to_string(&earlier).unwrap(),
        "{\"earlier\": true}"
    );
    assert!(!fresh.exists(), "no empty summary file is left");
}

#[test]
fn stdin_gzip_is_decompressed() {
    let input = gzip_sample_feed();

    let run = Run::with_stdin(&["-", "--feed", "IP Reputation"], &input);
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    let sources = run.summary["sources"].as_array().unwrap();
    assert_eq!(sources[0]["read"], 15);
    assert_eq!(sources[0]["delivered"], 12);
    assert_accounting(&run.summary);
    // Offsets count bytes of the decompressed feed, as for a .json.gz file.
    let reject = run.reject("-", 4014);
    assert_eq!(reject["code"], "invalid_ip");
}

#[test]
fn stdin_without_feed_fails() {
    let run = Run::with_stdin(&["-"], b"[]");
    assert_eq!(run.status, 2);
    assert!(run.stderr.contains("--feed"), "stderr: {}", run.stderr);
}

#[test]
fn unknown_feed_name_fails() {
    let run = Run::new(&[
        "examples/feeds/APT_IP_Data_Feed_261201_0900.json",
        "--feed",
        "No Such Feed",
    ]);
    assert_eq!(run.status, 2);
    assert!(
        run.stderr.contains("No Such Feed"),
        "stderr: {}",
        run.stderr
    );
    for prefix in PREFIXES {
        assert!(
            run.stderr.contains(prefix),
            "lists {prefix}: {}",
            run.stderr
        );
    }
    assert!(run.indicators.is_empty());
}

#[test]
fn unknown_file_name_fails() {
    let dir = tempfile::tempdir().unwrap();
    let mystery = dir.path().join("indicators_2026.json");
    std::fs::copy(
        repo_root()
            .join(FEEDS)
            .join("APT_IP_Data_Feed_261201_0900.json"),
        &mystery,
    )
    .unwrap();
    let run = Run::new(&[mystery.to_str().unwrap()]);
    assert_eq!(run.status, 2);
    assert!(
        run.stderr.contains("indicators_2026.json"),
        "stderr: {}",
        run.stderr
    );
    for prefix in PREFIXES {
        assert!(
            run.stderr.contains(prefix),
            "lists {prefix}: {}",
            run.stderr
        );
    }
    assert!(run.indicators.is_empty());
}

/// Runs one file of `examples/feeds/broken/` and checks the accounting of the run.
fn run_broken(name: &str) -> Run {
    let run = Run::new(&[&format!("{FEEDS}/broken/{name}")]);
    assert_accounting(&run.summary);
    run
}

#[test]
fn truncated_feed_stops_with_offset() {
    let run = run_broken("IP_Reputation_Data_Feed_truncated.json");

    assert_eq!(run.status, 3, "stderr: {}", run.stderr);
    let bytes = feed_bytes("examples/feeds/broken/IP_Reputation_Data_Feed_truncated.json");
    assert_eq!(bytes.len(), 402, "the input ends at byte 402");
    assert!(
        bytes[362..].starts_with(br#"{"id": 7003"#),
        "the third element starts at byte 362"
    );
    assert!(run.stderr.contains("byte 402"), "stderr: {}", run.stderr);
    assert!(
        run.stderr.contains("element that starts at byte 362"),
        "stderr: {}",
        run.stderr
    );
    assert!(run.stderr.contains("truncated"), "stderr: {}", run.stderr);
    assert_eq!(run.summaries(), ["192.0.2.11", "192.0.2.12"]);
    let source = &run.summary["sources"][0];
    assert_eq!(source["read"], 2);
    assert_eq!(source["delivered"], 2);
    assert!(
        source["error"].as_str().unwrap().contains("byte 402"),
        "{source}"
    );
}

#[test]
fn trailing_text_stops_after_array() {
    let run = run_broken("IP_Reputation_Data_Feed_trailing.json");

    assert_eq!(run.status, 3, "stderr: {}", run.stderr);
    assert!(run.stderr.contains("byte 361"), "stderr: {}", run.stderr);
    assert_eq!(run.summaries(), ["192.0.2.11", "192.0.2.12"]);
    assert_eq!(run.summary["sources"][0]["delivered"], 2);
}

#[test]
fn object_document_is_not_array() {
    let run = run_broken("IP_Reputation_Data_Feed_object.json");

    assert_eq!(run.status, 3, "stderr: {}", run.stderr);
    assert!(
        run.stderr.contains("not a JSON array"),
        "stderr: {}",
        run.stderr
    );
    assert!(run.stderr.contains("byte 0"), "stderr: {}", run.stderr);
    assert_eq!(run.summary["read"], 0);
    assert!(run.indicators.is_empty());
}

#[test]
fn bom_and_whitespace_are_accepted() {
    let run = Run::csv(&["examples/feeds/broken/IP_Reputation_Data_Feed_bom.json"]);
    assert_accounting(&run.summary);
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    assert_eq!(run.summary["delivered"], 2);

    // The CSV rows carry the element offsets, which count the 3-byte BOM.
    let rows = read_csv(&run.dir.path().join("indicators.csv"));
    let offsets: Vec<(&str, &str)> = rows.iter().map(|row| (&row[1][..], &row[10][..])).collect();
    assert_eq!(offsets, [("192.0.2.11", "12"), ("192.0.2.12", "191")]);
}

#[test]
fn empty_array_reads_nothing() {
    let run = run_broken("IP_Reputation_Data_Feed_empty.json");
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    let sources = run.summary["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 1, "a feed without records still has its row");
    assert_eq!(sources[0]["feed"], "IP Reputation");
    assert_eq!(sources[0]["read"], 0);
    assert_eq!(run.summary["read"], 0);
    assert_eq!(run.summary["delivered"], 0);
    assert!(run.indicators.is_empty());
    assert!(run.rejects.is_empty());
}

#[test]
fn bad_element_is_rejected_alone() {
    let run = run_broken("IP_Reputation_Data_Feed_badelement.json");
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    assert_eq!(run.summary["read"], 3);
    assert_eq!(run.summaries(), ["192.0.2.11", "192.0.2.13"]);

    let path = "examples/feeds/broken/IP_Reputation_Data_Feed_badelement.json";
    let reject = run.reject(path, 183);
    assert_eq!(reject["code"], "invalid_json");
    assert_eq!(
        reject["record"],
        r#"{"id": 7002, "ip": 1.2.3, "category": "malware"}"#
    );
    let bytes = feed_bytes(path);
    assert!(bytes[183..].starts_with(br#"{"id": 7002, "ip": 1.2.3,"#));
}

#[test]
fn strings_with_brackets_frame_correctly() {
    let run = run_broken("IP_Reputation_Data_Feed_strings.json");
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    assert_eq!(
        run.summaries(),
        ["192.0.2.11", "192.0.2.12", "192.0.2.13", "192.0.2.14"]
    );
    let tags: Vec<&str> = run
        .indicators
        .iter()
        .map(|indicator| indicator["tag"][2]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        tags,
        [
            r#"spam {"nested": [1, 2]} ]]"#,
            "malware",
            r"end with backslash \",
            "escaped ] and { via \\u",
        ]
    );
}

#[test]
fn oversized_elements_are_rejected() {
    // The first three elements of this sample are 224, 220 and 219 bytes long, the others
    // at most 200.
    let run = Run::new(&[
        "examples/feeds/Demo_APT_IP_Data_Feed_261201_0900.json",
        "--max-element-bytes",
        "200",
    ]);
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    let source = &run.summary["sources"][0];
    assert_eq!(source["read"], 6);
    assert_eq!(source["delivered"], 1);
    assert_eq!(
        source["rejected_by_reason"],
        json!({"oversized_element": 3, "invalid_ip": 1, "missing_field": 1})
    );
    assert_accounting(&run.summary);
    assert_eq!(run.summaries(), ["::ffff:192.0.2.45"]);

    let path = "examples/feeds/Demo_APT_IP_Data_Feed_261201_0900.json";
    let bytes = feed_bytes(path);
    for (offset, length) in [(4, 224), (232, 220), (456, 219)] {
        let reject = run.reject(path, offset);
        assert_eq!(reject["code"], "oversized_element");
        let reason = reject["reason"].as_str().unwrap();
        assert!(reason.contains(&format!("{length} bytes")), "{reason}");
        let start = usize::try_from(offset).unwrap();
        assert_eq!(bytes[start], b'{');
        assert_eq!(bytes[start + length - 1], b'}');
        let record = reject["record"].as_str().unwrap();
        assert!(bytes[start..].starts_with(record.as_bytes()), "{record}");
    }
}

fn read_csv(path: &Path) -> Vec<csv::StringRecord> {
    let mut reader = csv::Reader::from_path(path).expect("open CSV output");
    assert_eq!(
        reader.headers().expect("CSV header"),
        vec![
            "type",
            "summary",
            "rating",
            "confidence",
            "tags",
            "first_seen",
            "last_seen",
            "attributes",
            "feed",
            "file",
            "offset"
        ]
    );
    reader
        .records()
        .map(|record| record.expect("CSV row"))
        .collect()
}

#[test]
fn csv_has_row_per_indicator() {
    let dir = tempfile::tempdir().unwrap();
    let output: PathBuf = dir.path().join("indicators.csv");
    let result = feedpipe(
        &[
            "run",
            FEEDS,
            "--format",
            "csv",
            "--output",
            output.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(result.status.code(), Some(0));

    let rows = read_csv(&output);
    assert_eq!(rows.len(), 125);
    let row = rows
        .iter()
        .find(|row| &row[1] == "2001:db8::ff00:42:8329")
        .expect("IPv6 row");
    assert_eq!(&row[0], "Address");
    assert_eq!(&row[2], "4");
    assert_eq!(&row[3], "88");
    assert_eq!(
        &row[4],
        "Kaspersky;IP_Reputation;malware_hosting;HEUR:Trojan-Downloader.Win32.Agent.gen"
    );
    assert_eq!(&row[5], "2026-11-27T10:30:00Z");
    assert_eq!(&row[6], "2026-11-30T22:10:00Z");
    let attributes: Value = serde_json::from_str(&row[7]).expect("attributes column is JSON");
    assert_eq!(
        attributes[2],
        json!({"type": "Kaspersky Record ID", "value": "9876543214"})
    );
    assert_eq!(&row[8], "IP Reputation");
    assert_eq!(
        &row[9],
        "examples/feeds/IP_Reputation_Data_Feed_261201_0900.json"
    );
    let start: usize = row[10].parse().unwrap();
    let bytes = feed_bytes(&row[9]);
    assert_eq!(bytes[start], b'{');
    assert!(
        std::str::from_utf8(&bytes[start..start + 200])
            .unwrap()
            .contains("9876543214")
    );
    assert!(dir.path().join("indicators.rejects.jsonl").exists());
}

#[test]
fn null_sink_writes_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("indicators.jsonl");
    let summary = dir.path().join("summary.json");
    let result = feedpipe(
        &[
            "run",
            FEEDS,
            "--sink",
            "null",
            "--output",
            output.to_str().unwrap(),
            "--summary-json",
            summary.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(result.status.code(), Some(0));

    let summary: Value = serde_json::from_str(&std::fs::read_to_string(summary).unwrap()).unwrap();
    assert_eq!(summary["delivered"], 125);
    assert_eq!(summary["rejected"], 28);
    assert_eq!(summary["filtered"], 31);
    assert_accounting(&summary);
    assert!(!output.exists(), "the null sink writes no output file");
}

#[test]
fn feeds_lists_catalog() {
    let result = feedpipe(&["feeds"], None);
    assert_eq!(result.status.code(), Some(0));
    let listing = String::from_utf8(result.stdout).unwrap();
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 25, "a header and 24 feeds:\n{listing}");

    // (name, id, prefix, indicator types, tags, tag fields)
    #[rustfmt::skip]
    let catalog = [
        ("IP Reputation", "68", "IP_Reputation_Data_Feed", "Address", "Kaspersky, IP_Reputation", "category, files/threat"),
        ("Ransomware URL", "99", "Ransomware_URL_Data_Feed", "Address, Host, URL", "Kaspersky, Ransomware_URL", "files/threat"),
        ("Mobile Botnet", "139", "Mobile_Botnet_Data_Feed", "Address, Host, URL, File", "Kaspersky, Mobile_Botnet", "category, threat"),
        ("Malicious Hash", "66", "Malicious_Hash_Data_Feed", "File", "Kaspersky, Malicious_Hash", "threat, file_type"),
        ("Mobile Malicious Hash", "67", "Mobile_Malicious_Hash_Data_Feed", "File", "Kaspersky, Malicious_Hash", "threat"),
        ("Malicious URL Exact", "117", "Malicious_URL_Exact_Data_Feed", "Address, Host, URL", "Kaspersky, Malicious_URL_Exact", "category, files/threat"),
        ("Phishing URL Exact", "116", "Phishing_URL_Exact_Data_Feed", "Address, Host, URL", "Kaspersky, Phishing_URL_Exact", "industry"),
        ("ICS Hash", "141", "ICS_Hash_Data_Feed", "File", "Kaspersky, ICS_Hash", "file_type, threat"),
        ("IoT URL", "126", "IoT_URL_Data_Feed", "Address, Host, URL", "Kaspersky, IOT_URL", "files/threat"),
        ("APT Hash", "89", "APT_Hash_Data_Feed", "File", "Kaspersky, APT_Hash", "-"),
        ("APT IP", "90", "APT_IP_Data_Feed", "Address", "Kaspersky, APT_IP", "-"),
        ("APT URL", "91", "APT_URL_Data_Feed", "Address, Host, URL", "Kaspersky, APT_URL", "-"),
        ("Vulnerability", "137", "Vulnerability_Data_Feed", "File", "Kaspersky, Vulnerability", "exploits/threat"),
        ("ICS Vulnerability", "151", "ICS_Vulnerability_Data_Feed", "File", "Kaspersky, ICS_Vulnerability", "exploits/threat"),
        ("Botnet C&C URL Exact", "115", "Botnet_CnC_URL_Exact_Data_Feed", "Address, Host, URL", "Kaspersky, Botnet_CnC_URL_Exact", "threat"),
        ("Malicious URL", "-", "Malicious_URL_Data_Feed", "Address, Host, URL", "Kaspersky, Malicious_URL", "category, files/threat"),
        ("Phishing URL", "-", "Phishing_URL_Data_Feed", "Address, Host, URL", "Kaspersky, Phishing_URL", "industry"),
        ("Botnet C&C URL", "65", "Botnet_CnC_URL_Data_Feed", "Address, Host, URL", "Kaspersky, Botnet_CnC_URL", "threat"),
        ("Demo IP Reputation", "-", "Demo_IP_Reputation_Data_Feed", "Address", "Kaspersky, Demo_IP_Reputation", "category, files/threat"),
        ("Demo Botnet C&C URL", "-", "Demo_Botnet_CnC_URL_Data_Feed", "Address, Host, URL", "Kaspersky, Demo_Botnet_CnC_URL", "threat"),
        ("Demo Malicious Hash", "-", "Demo_Malicious_Hash_Data_Feed", "File", "Kaspersky, Demo_Malicious_Hash", "threat, file_type"),
        ("Demo APT Hash", "-", "Demo_APT_Hash_Data_Feed", "File", "Kaspersky, Demo_APT_Hash", "-"),
        ("Demo APT IP", "-", "Demo_APT_IP_Data_Feed", "Address", "Kaspersky, Demo_APT_IP", "-"),
        ("Demo APT URL", "-", "Demo_APT_URL_Data_Feed", "Address, Host, URL", "Kaspersky, Demo_APT_URL", "-"),
    ];
    for (line, (name, id, prefix, types, tags, fields)) in lines[1..].iter().zip(catalog) {
        // Columns are separated by runs of spaces, and values themselves contain single
        // spaces, so each line is checked as the sequence of its values.
        let words: Vec<&str> = line.split_whitespace().collect();
        let expected: Vec<&str> = [name, id, prefix, types, tags, fields]
            .iter()
            .flat_map(|value| value.split_whitespace())
            .collect();
        assert_eq!(words, expected, "catalog line {line:?}");
    }
}

/// Returns the directory of the public Kaspersky sample records: `FEEDPIPE_PUBLIC_FEEDS` if set,
/// else `shared/feeds` in the repository's parent directory.
fn public_feeds() -> PathBuf {
    std::env::var_os("FEEDPIPE_PUBLIC_FEEDS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/feeds"))
}

#[test]
fn public_records_follow_mapping_rules() {
    let feeds = public_feeds();
    if !feeds.is_dir() {
        println!(
            "note: skipped, no public sample records at {} (set FEEDPIPE_PUBLIC_FEEDS)",
            feeds.display()
        );
        return;
    }
    let run = Run::new(&[feeds.to_str().unwrap()]);
    assert_eq!(run.status, 0, "stderr: {}", run.stderr);
    assert_eq!(run.summary["read"], 24);
    assert_eq!(run.summary["delivered"], 24);
    assert_accounting(&run.summary);

    // (ip, rating = 6 − popularity, confidence = threat_score, category)
    let expected = [
        ("1.2.3.4", 5, 97, "malware-ESPAÑOL"),
        ("1.2.3.5", 5, 97, "malware-ESPAÑOL"),
        ("1.2.3.6", 5, 97, "malware-ESPAÑOL"),
        ("1.2.3.7", 5, 97, "malware-ESPAÑOL"),
        ("11.22.33.44", 1, 90, "malware"),
        ("1.1.1.1", 5, 90, "malware"),
        ("88.88.88.88", 2, 89, "malware"),
        ("3.3.3.3", 2, 89, "malware"),
        ("111.111.111.111", 5, 85, "malware"),
        ("5.5.5.5", 4, 83, "malware"),
        ("222.222.222.222", 3, 74, "malware"),
        ("119.119.119.119", 3, 74, "malware"),
        ("178.178.178.178", 4, 74, "malware"),
        ("4.4.4.4", 3, 74, "malware"),
        ("15.0.0.5", 3, 74, "malware"),
        ("18.18.18.18", 5, 80, "tor_exit_node"),
        ("99.99.99.99", 5, 80, "tor_exit_node"),
        ("20.20.20.20", 3, 90, "tor_exit_node"),
        ("50.50.50.50", 2, 80, "tor_exit_node"),
        ("200.200.200.200", 5, 74, "spam"),
        ("77.88.55.55", 2, 74, "spam"),
        ("2.2.2.2", 4, 74, "spam"),
        ("7.7.7.7", 4, 74, "spam"),
    ];
    for (ip, rating, confidence, category) in expected {
        let indicator = run.indicator("IP_Reputation", ip);
        assert_eq!(indicator["type"], "Address", "{ip}");
        assert_eq!(indicator["rating"], rating, "rating of {ip}");
        assert_eq!(indicator["confidence"], confidence, "confidence of {ip}");
        assert_eq!(
            indicator["tag"],
            json!([{"name": "Kaspersky"}, {"name": "IP_Reputation"}, {"name": category}]),
            "tags of {ip}"
        );
    }
    let first = run.indicator("IP_Reputation", "1.2.3.4");
    assert_eq!(first["firstSeen"], "2015-01-21T00:00:00Z");
    assert_eq!(first["lastSeen"], "2016-05-20T03:48:00Z");
    // `last_seen` earlier than `first_seen` is kept as given.
    let reversed = run.indicator("IP_Reputation", "50.50.50.50");
    assert_eq!(reversed["firstSeen"], "2016-05-16T11:53:00Z");
    assert_eq!(reversed["lastSeen"], "2016-05-11T15:46:00Z");
    assert!(
        run.indicator("IP_Reputation", "11.22.33.44")
            .get("lastSeen")
            .is_none()
    );

    // The mask `abid-sh84.github.io/netflixclone/*`: a trailing `/*` is cut to the prefix path.
    let phishing = run.indicator("Phishing_URL", "http://abid-sh84.github.io/netflixclone/");
    assert_eq!(phishing["type"], "URL");
    assert_eq!(phishing["rating"], 5);
    assert_eq!(phishing["confidence"], 100);
    assert_eq!(
        phishing["tag"],
        json!([{"name": "Kaspersky"}, {"name": "Phishing_URL"}, {"name": "E-shop"}])
    );
    assert_eq!(phishing["firstSeen"], "2024-05-19T08:32:00Z");
    assert!(phishing.get("lastSeen").is_none());
    let attributes = phishing["attribute"].as_array().unwrap();
    for kept in [
        json!({"type": "Kaspersky Mask", "value": "abid-sh84.github.io/netflixclone/*"}),
        json!({"type": "Kaspersky Mask Type", "value": "20"}),
        json!({"type": "Industry", "value": "E-shop"}),
        json!({"type": "Additional Analysis and Context", "value": "stolen_data_type: email_address"}),
        json!({"type": "Additional Analysis and Context", "value": "targeted_organization: Netflix Inc"}),
        json!({"type": "Additional Analysis and Context", "value": "attack_type: Phishing"}),
    ] {
        assert!(attributes.contains(&kept), "attribute {kept}");
    }
    let whois = attributes
        .iter()
        .find(|attribute| attribute["type"] == "Whois")
        .expect("Whois attribute");
    assert!(
        whois["value"]
            .as_str()
            .unwrap()
            .contains("org: GitHub, Inc.\n"),
        "{whois}"
    );
}

#[test]
fn samples_match_outcome_table() {
    // Every file in `examples/feeds/` is a sample of the table above, and no sample is missing.
    let mut files: Vec<String> = std::fs::read_dir(repo_root().join(FEEDS))
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_type().unwrap().is_file())
        .map(|entry| entry.file_name().into_string().unwrap())
        .collect();
    files.sort();
    let mut listed: Vec<&str> = WHOLE_DIRECTORY.iter().map(|outcome| outcome.file).collect();
    listed.sort_unstable();
    assert_eq!(files, listed);
    let feeds: BTreeMap<&str, &str> = WHOLE_DIRECTORY
        .iter()
        .map(|outcome| (outcome.feed, outcome.file))
        .collect();
    assert_eq!(feeds.len(), 24, "one sample per catalog feed");
}

/// Expected outcome of one numbered record in `examples/README.md`.
#[derive(Debug)]
enum RecordOutcome {
    Delivered {
        kind: String,
        summary: String,
        /// `None` for "default": the configured default.
        rating: Option<u64>,
        confidence: Option<u64>,
        /// The tags from the feed's tag fields, after the fixed ones.
        tags: Vec<String>,
    },
    Rejected {
        code: String,
    },
}

fn parse_number_or_default(text: &str, line: &str) -> Option<u64> {
    if text == "default" {
        return None;
    }
    Some(
        text.parse()
            .unwrap_or_else(|_| panic!("number in {line:?}")),
    )
}

/// Parses `TYPE `SUMMARY`, rating R, confidence C[, tags `A`, `B`][; notes]` or
/// `rejected `CODE` (…)`.
fn parse_record_line(line: &str) -> RecordOutcome {
    if let Some(rest) = line.strip_prefix("rejected `") {
        let (code, _) = rest.split_once('`').expect("closing backtick");
        return RecordOutcome::Rejected {
            code: code.to_owned(),
        };
    }
    let (kind, rest) = line.split_once(" `").expect("summary");
    let (summary, rest) = rest.split_once('`').expect("closing backtick");
    let rest = rest.strip_prefix(", rating ").expect("rating");
    let (rating, rest) = rest.split_once(", confidence ").expect("confidence");
    let end = rest.find([',', ';']).unwrap_or(rest.len());
    let (confidence, rest) = rest.split_at(end);

    let mut tags = Vec::new();
    if let Some(mut list) = rest.strip_prefix(", tags `") {
        loop {
            let (tag, after) = list.split_once('`').expect("closing backtick");
            tags.push(tag.to_owned());
            match after.strip_prefix(", `") {
                Some(next) => list = next,
                None => break,
            }
        }
    }
    RecordOutcome::Delivered {
        kind: kind.to_owned(),
        summary: summary.to_owned(),
        rating: parse_number_or_default(rating, line),
        confidence: parse_number_or_default(confidence, line),
        tags,
    }
}

/// Reads the "Expected outcome per record" sections of `examples/README.md`: for each sample
/// file, its numbered records in file order.
fn readme_contract() -> Vec<(String, Vec<RecordOutcome>)> {
    let readme = std::fs::read_to_string(repo_root().join("examples/README.md")).unwrap();
    let mut files: Vec<(String, Vec<RecordOutcome>)> = Vec::new();
    for line in readme.lines() {
        if line.starts_with("## Broken files") {
            break;
        }
        if let Some(name) = line
            .strip_prefix("### `")
            .and_then(|rest| rest.strip_suffix('`'))
        {
            files.push((name.to_owned(), Vec::new()));
            continue;
        }
        let Some((number, text)) = line.split_once(". ") else {
            continue;
        };
        if number.is_empty() || !number.bytes().all(|byte| byte.is_ascii_digit()) {
            continue;
        }
        let (_, records) = files
            .last_mut()
            .expect("a record line inside a file section");
        assert_eq!(
            records.len() + 1,
            number.parse::<usize>().unwrap(),
            "{line}"
        );
        records.push(parse_record_line(text));
    }
    files
}

#[test]
fn readme_outcome_per_record() {
    // A default rating and confidence that no record can produce otherwise, so that "default"
    // in the README is distinguished from a rating of 6 − popularity or a threat score.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("feedpipe.toml");
    std::fs::write(
        &config,
        "[stages.rate]\ndefault_rating = 0\ndefault_confidence = 55\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();

    let contract = readme_contract();
    assert_eq!(contract.len(), 24, "one section per sample file");
    let mut records = 0;
    for (file, expected) in &contract {
        records += expected.len();
        let run = Run::csv(&[&format!("{FEEDS}/{file}"), "--config", config]);
        assert_eq!(run.status, 0, "{file}: {}", run.stderr);
        assert_accounting(&run.summary);

        // Every element of a file run alone is delivered or rejected; its offset gives its
        // place in the file.
        let mut outcomes: Vec<(u64, Result<csv::StringRecord, String>)> =
            read_csv(&run.dir.path().join("indicators.csv"))
                .into_iter()
                .map(|row| (row[10].parse().unwrap(), Ok(row)))
                .collect();
        outcomes.extend(run.rejects.iter().map(|reject| {
            let code = reject["code"].as_str().unwrap().to_owned();
            (reject["offset"].as_u64().unwrap(), Err(code))
        }));
        outcomes.sort_by_key(|(offset, _)| *offset);
        assert_eq!(outcomes.len(), expected.len(), "records of {file}");

        for (number, ((offset, got), want)) in (1..).zip(outcomes.iter().zip(expected)) {
            let place = format!("{file} record {number} at byte {offset}");
            match (got, want) {
                (Err(code), RecordOutcome::Rejected { code: want_code }) => {
                    assert_eq!(code, want_code, "{place}");
                }
                (
                    Ok(row),
                    RecordOutcome::Delivered {
                        kind,
                        summary,
                        rating,
                        confidence,
                        tags,
                    },
                ) => {
                    assert_eq!(&row[0], kind, "{place}");
                    assert_eq!(&row[1], summary, "{place}");
                    assert_eq!(
                        row[2].parse::<u64>().unwrap(),
                        rating.unwrap_or(0),
                        "{place}"
                    );
                    assert_eq!(
                        row[3].parse::<u64>().unwrap(),
                        confidence.unwrap_or(55),
                        "{place}"
                    );
                    let got_tags: Vec<&str> = row[4].split(';').skip(2).collect();
                    assert_eq!(got_tags, *tags, "{place}");
                }
                (got, want) => panic!("{place}: got {got:?}, expected {want:?}"),
            }
        }
    }
    assert_eq!(records, 184);
}

#[test]
fn output_paths_must_not_collide() {
    let dir = TempDir::new().unwrap();
    let feed = dir.path().join("APT_IP_Data_Feed_261201_0900.json");
    std::fs::copy(
        repo_root()
            .join(FEEDS)
            .join("APT_IP_Data_Feed_261201_0900.json"),
        &feed,
    )
    .unwrap();
    let original = std::fs::read(&feed).unwrap();
    let feed_arg = feed.to_str().unwrap();
    let out = dir.path().join("out.jsonl");
    let out_arg = out.to_str().unwrap();

    let cases: [(&[&str], &str); 4] = [
        (&["--rejects", feed_arg], "is also an input feed"),
        (&["--output", feed_arg], "is also an input feed"),
        (
            &["--output", out_arg, "--rejects", out_arg],
            "are the same file",
        ),
        (
            &["--output", out_arg, "--summary-json", out_arg],
            "are the same file",
        ),
    ];
    for (extra, message) in cases {
        let mut args = vec!["run", feed_arg];
        args.extend_from_slice(extra);
        let output = feedpipe(&args, None);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{extra:?}: {stderr}");
        assert!(stderr.contains(message), "{extra:?}: {stderr}");
        assert_eq!(
            std::fs::read(&feed).unwrap(),
            original,
            "{extra:?} changed the feed"
        );
    }
    assert!(!out.exists(), "nothing is written when the paths collide");
}

#[test]
fn too_many_workers_is_a_usage_error() {
    let output = feedpipe(
        &["run", FEEDS, "--sink", "null", "--workers", "100000"],
        None,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--workers ([pipeline] workers) must be at most 256"),
        "{stderr}"
    );
}

#[test]
fn feed_named_twice_is_read_once() {
    let dir = TempDir::new().unwrap();
    let file = format!("{FEEDS}/APT_IP_Data_Feed_261201_0900.json");
    let summary = dir.path().join("summary.json");
    let output = feedpipe(
        &[
            "run",
            &file,
            &file,
            FEEDS,
            "--sink",
            "null",
            "--rejects",
            dir.path().join("rejects.jsonl").to_str().unwrap(),
            "--summary-json",
            summary.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(0));
    let summary: Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(summary["read"], 184, "every sample record once");
    assert_accounting(&summary);
}

#[cfg(unix)]
#[test]
fn interrupt_finishes_with_balanced_counts() {
    stop_with_signal("-INT");
}

#[cfg(unix)]
#[test]
fn sigterm_finishes_with_balanced_counts() {
    stop_with_signal("-TERM");
}

#[cfg(unix)]
#[test]
fn sigterm_stops_a_run_waiting_on_stdin() {
    // Part of a feed, then no more input: the pipe stays open until the run has ended.
    let summary = sigterm_during_stdin(|mut input, _| {
        let records: Vec<String> = (0..2000).map(record).collect();
        let text = format!("[{}", records.join(","));
        std::io::Write::write_all(&mut input, text.as_bytes()).unwrap();
        std::io::Write::flush(&mut input).unwrap();
        input
    });
    assert_eq!(summary["read"], 2000);
    assert_eq!(summary["delivered"], 2000);
}

#[cfg(unix)]
#[test]
fn sigterm_stops_a_run_fed_slowly() {
    // One record every 20 ms, fewer than a batch holds, until the run has ended.
    let summary = sigterm_during_stdin(|mut input, ended| {
        std::thread::spawn(move || {
            let _ = std::io::Write::write_all(&mut input, b"[");
            for index in 0..1500 {
                let separator = if index > 0 { "," } else { "" };
                let text = format!("{separator}{}", record(index));
                let written = std::io::Write::write_all(&mut input, text.as_bytes())
                    .and_then(|()| std::io::Write::flush(&mut input));
                if written.is_err() || ended.load(std::sync::atomic::Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        })
    });
    let read = summary["read"].as_u64().unwrap();
    assert!(read > 0, "read {read}");
    assert!(
        read < 500,
        "read {read}: the run went on reading after SIGTERM"
    );
}

fn record(index: usize) -> String {
    format!(
        r#"{{"ip":"198.51.100.{}","category":"malware"}}"#,
        index % 250
    )
}

/// Runs the null sink on standard input fed by `feed`, sends SIGTERM after 0.5 s and checks
/// that the run ends within 20 s with status 130 and balanced counts. Returns the summary.
#[cfg(unix)]
fn sigterm_during_stdin<T>(
    feed: impl FnOnce(std::process::ChildStdin, std::sync::Arc<std::sync::atomic::AtomicBool>) -> T,
) -> Value {
    let dir = TempDir::new().unwrap();
    let summary = dir.path().join("summary.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_feedpipe"))
        .args([
            "run",
            "-",
            "--feed",
            "IP Reputation",
            "--sink",
            "null",
            "--rejects",
            dir.path().join("rejects.jsonl").to_str().unwrap(),
            "--summary-json",
            summary.to_str().unwrap(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ended = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let feeding = feed(child.stdin.take().unwrap(), ended.clone());
    std::thread::sleep(std::time::Duration::from_millis(500));
    let signalled = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the run still reads standard input 20 s after SIGTERM");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    ended.store(true, std::sync::atomic::Ordering::Relaxed);
    drop(feeding);
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(130), "{stderr}");
    let summary: Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_accounting(&summary);
    summary
}

/// Sends `signal` to a run shortly after it starts and checks that it stops cleanly.
#[cfg(unix)]
fn stop_with_signal(signal: &str) {
    // A feed long enough to be still running when the signal arrives.
    let dir = TempDir::new().unwrap();
    let feed = dir.path().join("IP_Reputation_Data_Feed_261201_0900.json");
    let mut text = String::from("[");
    for index in 0..400_000 {
        if index > 0 {
            text.push(',');
        }
        text.push_str(&format!(
            r#"{{"ip":"198.51.100.{}","threat_score":80,"category":"malware","popularity":2}}"#,
            index % 250
        ));
    }
    text.push(']');
    std::fs::write(&feed, text).unwrap();
    let summary = dir.path().join("summary.json");

    let child = Command::new(env!("CARGO_BIN_EXE_feedpipe"))
        .args([
            "run",
            feed.to_str().unwrap(),
            "--output",
            dir.path().join("out.jsonl").to_str().unwrap(),
            "--summary-json",
            summary.to_str().unwrap(),
            "--workers",
            "1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let signalled = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);

    let summary: Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_accounting(&summary);
    if output.status.code() == Some(0) {
        // The run finished before the signal arrived; the counts still had to balance.
        assert_eq!(summary["read"], 400_000);
        return;
    }
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(count(&summary["read"]) < 400_000, "{summary}");
}

#[test]
fn unwritable_rejects_file_fails_the_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("IP_Reputation_Data_Feed_bad.json");
    let records: Vec<String> = (0..3000)
        .map(|index| format!(r#"{{"ip": "not-an-ip-{index}"}}"#))
        .collect();
    std::fs::write(&feed, format!("[{}]", records.join(","))).unwrap();
    let summary = dir.path().join("summary.json");

    let output = feedpipe(
        &[
            "run",
            "--sink",
            "null",
            "--rejects",
            "/dev/full",
            "--summary-json",
            summary.to_str().unwrap(),
            feed.to_str().unwrap(),
        ],
        None,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "stderr: {stderr}");
    assert!(
        stderr.contains("error: writing the rejects file /dev/full failed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("rejected records after the failure are not in it"),
        "{stderr}"
    );
    // One log line for the failure, not one per record.
    assert!(
        stderr.matches("rejects file failed").count() <= 2,
        "{stderr}"
    );

    let summary: Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
    assert_eq!(summary["sources"][0]["rejected"], 3000);
    assert_accounting(&summary);
}
