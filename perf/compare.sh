#!/usr/bin/env bash
# Compares feedpipe with peer converters on one generated IP Reputation feed.
#
# Every row runs under `/usr/bin/time -v` and reports wall time, throughput in feed bytes (MB/s,
# decimal) and records per second, and peak RSS. Rows:
#   feedpipe (null sink)        the whole pipeline without output
#   feedpipe (file sink)        the same, writing ThreatConnect JSON lines to a file
#   feedpipe (threatconnect)    the ThreatConnect sink against the local emulator
#   feedpipe (tc, 50 ms polls)  the same with perf/threatconnect-fast-poll.toml
#   simd-json parse-only        the single-thread ceiling: split and parse every element, no output
#   serde_json whole file       read the whole file, parse it as Vec<Value>, write JSON lines
#   jq                          jq -c '.[] | {...}' producing the same objects
#   python ijson                perf/peers/ijson_convert.py, a streaming Python converter
# A row whose command is not available prints "skipped: <reason>".
#
# Usage: perf/compare.sh [--records N] [--workdir DIR] [--seed S] [--skip-default-poll]
#
# --skip-default-poll leaves out the ThreatConnect row with the sink's default 2 s polls, which
# takes minutes because it waits on polls, not on work.

set -euo pipefail

records=1000000
workdir=target/perf
seed=1

skip_default_poll=0
usage() {
    sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --records) records="$2"; shift 2 ;;
        --workdir) workdir="$2"; shift 2 ;;
        --seed) seed="$2"; shift 2 ;;
        --skip-default-poll) skip_default_poll=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
if ! [[ "$records" =~ ^[0-9]+$ ]] || [[ "$records" -eq 0 ]]; then
    echo "invalid --records $records: expected a positive whole number" >&2
    exit 2
fi

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
mkdir -p "$workdir"
workdir="$(cd "$workdir" && pwd)"

# ---- tools -------------------------------------------------------------------------------

if [[ ! -x /usr/bin/time ]]; then
    echo "Installing GNU time." >&2
    apt-get install -y time >/dev/null
fi
if ! command -v jq >/dev/null; then
    echo "Installing jq." >&2
    apt-get install -y jq >/dev/null || { apt-get update >/dev/null && apt-get install -y jq >/dev/null; }
fi
if ! python3 -c 'import ijson' 2>/dev/null; then
    echo "Installing ijson." >&2
    python3 -m pip install --quiet ijson
fi

echo "Building release binaries (this takes minutes on a cold cache)." >&2
cargo build --release --quiet -p feedpipe-perf --bins
perf_bin="$root/target/release"

feedpipe=""
feedpipe_reason=""
if ! cargo build --release --quiet -p feedpipe 2>"$workdir/feedpipe-build.log"; then
    feedpipe_reason="feedpipe does not build (see $workdir/feedpipe-build.log)"
elif ! "$root/target/release/feedpipe" run --help 2>/dev/null | grep -q -- '--sink'; then
    feedpipe_reason="feedpipe has no 'run --sink' command yet"
else
    feedpipe="$root/target/release/feedpipe"
fi

# ---- input -------------------------------------------------------------------------------

feed="$workdir/IP_Reputation_Data_Feed_${records}_seed${seed}.json"
if [[ ! -s "$feed" ]]; then
    "$perf_bin/feedpipe-perf" generate --feed "IP Reputation" --records "$records" \
        --seed "$seed" --output "$feed"
fi
feed_bytes="$(stat -c %s "$feed")"

# ---- measuring ---------------------------------------------------------------------------

names=()
seconds=()
rss_kib=()
notes=()

# Runs a command under /usr/bin/time -v and records its wall time and peak RSS.
measure() {
    local name="$1"
    shift
    local slug="${name//[^a-zA-Z0-9]/_}"
    local timing="$workdir/time-$slug.txt"
    echo "Running $name." >&2
    if /usr/bin/time -v -o "$timing" "$@" >"$workdir/$slug.stdout" 2>"$workdir/$slug.stderr"; then
        local wall rss
        wall="$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$timing" |
            awk -F: '{ if (NF == 3) print $1 * 3600 + $2 * 60 + $3; else print $1 * 60 + $2 }')"
        rss="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$timing")"
        names+=("$name")
        seconds+=("$wall")
        rss_kib+=("$rss")
        notes+=("")
    else
        local status=$?
        skip "$name" "failed with exit status $status (see $workdir/$slug.stderr)"
    fi
}

# Records a row that was not measured, with the reason.
skip() {
    echo "$1: skipped: $2" >&2
    names+=("$1")
    seconds+=("")
    rss_kib+=("")
    notes+=("skipped: $2")
}

# Checks that a converter wrote one line per record.
check_lines() {
    local name="$1" output="$2"
    local lines
    if [[ ! -f "$output" ]]; then
        return
    fi
    lines="$(wc -l <"$output")"
    if [[ "$lines" -ne "$records" ]]; then
        echo "warning: $name wrote $lines lines for $records records" >&2
    fi
}

emulator_pid=""
stop_emulator() {
    if [[ -n "$emulator_pid" ]]; then
        kill "$emulator_pid" 2>/dev/null || true
        wait "$emulator_pid" 2>/dev/null || true
        emulator_pid=""
    fi
}
trap stop_emulator EXIT

# Waits until something listens on 127.0.0.1:$1, for at most 10 seconds.
wait_for_port() {
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# Runs the ThreatConnect sink against a fresh emulator, because the emulator keeps every
# indicator it receives and slows down as it grows. Extra arguments go to `feedpipe run`.
measure_threatconnect() {
    local name="$1"
    shift
    local port="${FEEDPIPE_PERF_EMULATOR_PORT:-18443}"
    "$feedpipe" emulate threatconnect --listen "127.0.0.1:$port" \
        >"$workdir/emulator.log" 2>&1 &
    emulator_pid=$!
    if wait_for_port "$port"; then
        measure "$name" "$feedpipe" run --sink threatconnect --profile "$@" \
            --tc-url "http://127.0.0.1:$port/api" --tc-owner "Emulator Org" \
            --rejects "$workdir/threatconnect.rejects.jsonl" "$feed"
    else
        skip "$name" "the emulator did not listen on port $port"
    fi
    stop_emulator
}

# ---- rows --------------------------------------------------------------------------------

if [[ -n "$feedpipe" ]]; then
    measure "feedpipe (null sink)" "$feedpipe" run --sink null --profile \
        --rejects "$workdir/null.rejects.jsonl" "$feed"
    measure "feedpipe (file sink)" "$feedpipe" run --sink file --profile \
        --output "$workdir/feedpipe.jsonl" --rejects "$workdir/file.rejects.jsonl" "$feed"
    if ! "$feedpipe" emulate threatconnect --help >/dev/null 2>&1; then
        skip "feedpipe (threatconnect)" "feedpipe has no 'emulate threatconnect' command yet"
        skip "feedpipe (tc, 50 ms polls)" "feedpipe has no 'emulate threatconnect' command yet"
    else
        # The emulator's default credentials; they reach feedpipe through its environment.
        export FEEDPIPE_TC_ACCESS_ID=emulator FEEDPIPE_TC_SECRET_KEY=emulator-secret-key
        if [[ "$skip_default_poll" == 1 ]]; then
            skip "feedpipe (threatconnect)" "--skip-default-poll given"
        else
            measure_threatconnect "feedpipe (threatconnect)"
        fi
        measure_threatconnect "feedpipe (tc, 50 ms polls)" \
            --config "$root/perf/threatconnect-fast-poll.toml"
    fi
else
    skip "feedpipe (null sink)" "$feedpipe_reason"
    skip "feedpipe (file sink)" "$feedpipe_reason"
    skip "feedpipe (threatconnect)" "$feedpipe_reason"
    skip "feedpipe (tc, 50 ms polls)" "$feedpipe_reason"
fi

measure "simd-json parse-only" "$perf_bin/simdjson-parse-only" "$feed"

measure "serde_json whole file" "$perf_bin/serde-whole-file" "$feed" "$workdir/serde.jsonl"
check_lines "serde_json whole file" "$workdir/serde.jsonl"

jq_filter='.[] | {
    type: "Address",
    summary: .ip,
    rating: (if (.popularity | type) == "number" and .popularity >= 1 and .popularity <= 5
             then 6 - .popularity else 0 end),
    confidence: (.threat_score // 100),
    tag: [{name: "Kaspersky"}, {name: "IP_Reputation"}, {name: (.category // "")}],
    attribute: [
        {type: "Description",
         value: "Kaspersky IP Reputation: \(.category // ""), first seen \(.first_seen // "")"},
        {type: "Source", value: "Kaspersky IP Reputation Data Feed"}
    ]
}'
measure "jq" sh -c 'jq -c "$1" "$2" >"$3"' jq "$jq_filter" "$feed" "$workdir/jq.jsonl"
check_lines "jq" "$workdir/jq.jsonl"

measure "python ijson" python3 "$root/perf/peers/ijson_convert.py" "$feed" "$workdir/ijson.jsonl"
check_lines "python ijson" "$workdir/ijson.jsonl"

# ---- table -------------------------------------------------------------------------------

reference_seconds() {
    local wanted="$1"
    for index in "${!names[@]}"; do
        if [[ "${names[$index]}" == "$wanted" ]]; then
            echo "${seconds[$index]}"
            return
        fi
    done
}
ceiling="$(reference_seconds "simd-json parse-only")"
ijson="$(reference_seconds "python ijson")"

echo
echo "Feed: $feed ($records IP Reputation records, $feed_bytes bytes, seed $seed)"
echo
printf '| %-26s | %8s | %8s | %10s | %13s | %16s | %9s |\n' \
    tool "time s" "MB/s" "records/s" "peak RSS MiB" "vs simd-json" "vs ijson"
printf '|%s|%s|%s|%s|%s|%s|%s|\n' \
    "$(printf -- '-%.0s' {1..28})" "----------:" "----------:" "------------:" \
    "---------------:" "------------------:" "-----------:"
for index in "${!names[@]}"; do
    if [[ -n "${notes[$index]}" ]]; then
        printf '| %-26s | %s |\n' "${names[$index]}" "${notes[$index]}"
        continue
    fi
    awk -v name="${names[$index]}" -v secs="${seconds[$index]}" -v rss="${rss_kib[$index]}" \
        -v bytes="$feed_bytes" -v records="$records" -v ceiling="$ceiling" -v ijson="$ijson" '
        function ratio(reference) {
            if (reference == "" || secs == 0) return "-"
            return sprintf("%.2fx", reference / secs)
        }
        BEGIN {
            speed = secs > 0 ? bytes / secs / 1e6 : 0
            rate = secs > 0 ? records / secs : 0
            printf "| %-26s | %8.2f | %8.1f | %10.0f | %13.1f | %16s | %9s |\n",
                name, secs, speed, rate, rss / 1024, ratio(ceiling), ratio(ijson)
        }'
done
echo
echo "Ratios are throughput relative to the row named (above 1 is faster)."
