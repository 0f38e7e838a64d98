#!/usr/bin/env bash
# Compares feedpipe with peer converters on one generated IP Reputation feed.
#
# Every row runs under `/usr/bin/time -v` and reports wall time, throughput in feed bytes (MB/s,
# decimal) and records per second, and peak RSS. Rows:
#   feedpipe (null sink)        the whole pipeline without output
#   feedpipe (file sink)        the same, writing ThreatConnect JSON lines to a file
#   feedpipe (threatconnect)    the ThreatConnect sink against the local emulator
#   feedpipe (tc, 50 ms polls)  the same with perf/threatconnect-fast-poll.toml
#   simd-json parse-only        the single-thread ceiling: split every element and parse it in
#                               place into borrowed values, as feedpipe's workers do; no output
#   simd-json owned values      the same into owned values, which allocate every string
#   serde_json whole file       read the whole file, parse it as Vec<Value>, write JSON lines
#   jq                          jq -c '.[] | {...}' writing simplified objects
#   python ijson                perf/peers/ijson_convert.py, a streaming Python converter that
#                               writes the same objects as feedpipe's file sink
#   python ijson, pure Python   the same with ijson's pure-Python backend (--pure-python only)
# A row whose command is not available prints "skipped: <reason>".
#
# Each round runs every row once, and --repeat N rounds (default 3) are run one after another,
# so that load on the machine falls on all rows alike. The table gives each row's median time
# and the peak RSS of that run, and then the null and file sinks' ratio to the ceiling run of
# the same round, for each round. Before each row runs, earlier outputs are removed and the
# rest is written back to disk (`sync`), so no row pays for another row's output.
#
# Usage: perf/compare.sh [--records N] [--repeat N] [--workdir DIR] [--seed S]
#                        [--skip-default-poll] [--pure-python]
#
# --skip-default-poll leaves out the ThreatConnect row with the sink's default 2 s polls, which
# takes minutes because it waits on polls, not on work. --pure-python adds the pure-Python
# ijson row, run in the first round only because it takes minutes.
#
# The script builds the release binaries, generates the feed into the work directory if it is
# not there, and installs GNU time, jq and ijson with apt-get and pip if they are missing. Use
# 1,000,000 records or more: /usr/bin/time measures in hundredths of a second, so small feeds
# give meaningless ratios.

set -euo pipefail

records=1000000
workdir=target/perf
seed=1

repeat=3
skip_default_poll=0
pure_python=0
usage() {
    sed -n '2,37p' "$0" | sed 's/^# \{0,1\}//'
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --records) records="$2"; shift 2 ;;
        --repeat) repeat="$2"; shift 2 ;;
        --pure-python) pure_python=1; shift ;;
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
if ! [[ "$repeat" =~ ^[0-9]+$ ]] || [[ "$repeat" -eq 0 ]]; then
    echo "invalid --repeat $repeat: expected a positive whole number" >&2
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
    # Written under another name first, so that an interrupted run leaves no partial feed
    # under the name a later run would reuse.
    "$perf_bin/feedpipe-perf" generate --feed "IP Reputation" --records "$records" \
        --seed "$seed" --output "$feed.partial"
    mv "$feed.partial" "$feed"
fi
feed_bytes="$(stat -c %s "$feed")"

# ---- measuring ---------------------------------------------------------------------------

names=()                 # row names in table order
declare -A run_seconds   # row name -> wall seconds of each run, space-separated
declare -A run_rss       # row name -> peak RSS KiB of each run, space-separated
declare -A notes         # row name -> "skipped: reason"

# Adds a row name to the table once.
add_row() {
    local name
    for name in "${names[@]}"; do
        [[ "$name" == "$1" ]] && return
    done
    names+=("$1")
}

# Runs a command under /usr/bin/time -v and records its wall time and peak RSS.
measure() {
    local name="$1"
    shift
    add_row "$name"
    local slug="${name//[^a-zA-Z0-9]/_}"
    local timing="$workdir/time-$slug.txt"
    echo "Running $name (round $round of $repeat)." >&2
    # Earlier rows' outputs are written back to disk first, so that no row pays for them.
    sync
    if /usr/bin/time -v -o "$timing" "$@" >"$workdir/$slug.stdout" 2>"$workdir/$slug.stderr"; then
        local wall rss
        wall="$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$timing" |
            awk -F: '{ if (NF == 3) print $1 * 3600 + $2 * 60 + $3; else print $1 * 60 + $2 }')"
        rss="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$timing")"
        run_seconds["$name"]+="$wall "
        run_rss["$name"]+="$rss "
    else
        local status=$?
        skip "$name" "failed with exit status $status (see $workdir/$slug.stderr)"
    fi
}

# Records a row that was not measured, with the reason.
skip() {
    echo "$1: skipped: $2" >&2
    add_row "$1"
    notes["$1"]="skipped: $2"
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

jq_filter='.[] | {
    type: "Address",
    summary: .ip,
    rating: (if (.popularity | type) == "number" and .popularity >= 1 and .popularity <= 5
             then 6 - .popularity else 3 end),
    confidence: (.threat_score // 100),
    tag: [{name: "Kaspersky"}, {name: "IP_Reputation"}, {name: (.category // "")}],
    attribute: [
        {type: "Description",
         value: "Kaspersky IP Reputation: \(.category // ""), first seen \(.first_seen // "")"},
        {type: "Source", value: "Kaspersky IP Reputation Data Feed"}
    ]
}'

# Runs every row once.
run_round() {
    if [[ -n "$feedpipe" ]]; then
        measure "feedpipe (null sink)" "$feedpipe" run --sink null --profile \
            --rejects "$workdir/null.rejects.jsonl" "$feed"
        rm -f "$workdir/feedpipe.jsonl"
        measure "feedpipe (file sink)" "$feedpipe" run --sink file --profile \
            --output "$workdir/feedpipe.jsonl" --rejects "$workdir/file.rejects.jsonl" "$feed"
        check_lines "feedpipe (file sink)" "$workdir/feedpipe.jsonl"
    else
        skip "feedpipe (null sink)" "$feedpipe_reason"
        skip "feedpipe (file sink)" "$feedpipe_reason"
    fi

    # The ceiling runs right after the two rows compared with it, so that each round's ratios
    # come from runs seconds apart.
    measure "simd-json parse-only" "$perf_bin/simdjson-parse-only" "$feed"
    measure "simd-json owned values" "$perf_bin/simdjson-parse-only" --owned "$feed"

    if [[ -n "$feedpipe" ]]; then
        if ! "$feedpipe" emulate threatconnect --help >/dev/null 2>&1; then
            skip "feedpipe (threatconnect)" "feedpipe has no 'emulate threatconnect' command yet"
            skip "feedpipe (tc, 50 ms polls)" "feedpipe has no 'emulate threatconnect' command yet"
        else
            # The emulator's default credentials; they reach feedpipe through its environment.
            export FEEDPIPE_TC_ACCESS_ID=emulator FEEDPIPE_TC_SECRET_KEY=emulator-secret-key
            if [[ "$skip_default_poll" == 1 ]]; then
                skip "feedpipe (threatconnect)" "--skip-default-poll given"
            elif [[ "$round" == 1 ]]; then
                # One run is enough: its time is set by the 2 s polls.
                measure_threatconnect "feedpipe (threatconnect)"
            fi
            measure_threatconnect "feedpipe (tc, 50 ms polls)" \
                --config "$root/perf/threatconnect-fast-poll.toml"
        fi
    else
        skip "feedpipe (threatconnect)" "$feedpipe_reason"
        skip "feedpipe (tc, 50 ms polls)" "$feedpipe_reason"
    fi

    rm -f "$workdir/serde.jsonl"
    measure "serde_json whole file" "$perf_bin/serde-whole-file" "$feed" "$workdir/serde.jsonl"
    check_lines "serde_json whole file" "$workdir/serde.jsonl"

    rm -f "$workdir/jq.jsonl"
    measure "jq" sh -c 'jq -c "$1" "$2" >"$3"' jq "$jq_filter" "$feed" "$workdir/jq.jsonl"
    check_lines "jq" "$workdir/jq.jsonl"

    rm -f "$workdir/ijson.jsonl"
    measure "python ijson" python3 "$root/perf/peers/ijson_convert.py" "$feed" \
        "$workdir/ijson.jsonl"
    check_lines "python ijson" "$workdir/ijson.jsonl"

    if [[ "$pure_python" == 1 && "$round" == 1 ]]; then
        rm -f "$workdir/ijson-python.jsonl"
        measure "python ijson, pure Python" python3 "$root/perf/peers/ijson_convert.py" \
            --backend python "$feed" "$workdir/ijson-python.jsonl"
        check_lines "python ijson, pure Python" "$workdir/ijson-python.jsonl"
    fi
}

# The table lists the rows in this order, whatever order a round runs them in.
for name in "feedpipe (null sink)" "feedpipe (file sink)" "feedpipe (threatconnect)" \
    "feedpipe (tc, 50 ms polls)" "simd-json parse-only" "simd-json owned values" \
    "serde_json whole file" "jq" "python ijson" "python ijson, pure Python"; do
    add_row "$name"
done

for round in $(seq "$repeat"); do
    run_round
done

# ---- table -------------------------------------------------------------------------------

# Prints the middle line of standard input, sorted by its leading number.
middle_line() {
    sort -n | awk '{ rows[NR] = $0 } END { print rows[int((NR + 1) / 2)] }'
}

# Prints the median of the runs of a row and the peak RSS of that run, as "seconds rss".
median_run() {
    local name="$1"
    local -a times rss
    read -r -a times <<<"${run_seconds[$name]:-}"
    read -r -a rss <<<"${run_rss[$name]:-}"
    if [[ ${#times[@]} -eq 0 ]]; then
        return
    fi
    local index
    for index in "${!times[@]}"; do
        echo "${times[$index]} ${rss[$index]}"
    done | middle_line
}

ceiling="$(median_run "simd-json parse-only" | cut -d' ' -f1)"
ijson="$(median_run "python ijson" | cut -d' ' -f1)"

echo
echo "Feed: $feed ($records IP Reputation records, $feed_bytes bytes, seed $seed)"
echo "Median of $repeat rounds."
echo
printf '| %-26s | %5s | %8s | %8s | %10s | %13s | %12s | %9s |\n' \
    tool runs "time s" "MB/s" "records/s" "peak RSS MiB" "vs simd-json" "vs ijson"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|\n' \
    "$(printf -- '-%.0s' {1..28})" "------:" "---------:" "---------:" "-----------:" \
    "--------------:" "-------------:" "----------:"
for name in "${names[@]}"; do
    if [[ -z "${notes[$name]:-}" && -z "${run_seconds[$name]:-}" ]]; then
        continue
    fi
    if [[ -n "${notes[$name]:-}" && -z "${run_seconds[$name]:-}" ]]; then
        printf '| %-26s | %s |\n' "$name" "${notes[$name]}"
        continue
    fi
    read -r secs rss <<<"$(median_run "$name")"
    runs="$(wc -w <<<"${run_seconds[$name]}")"
    awk -v name="$name" -v runs="$runs" -v secs="$secs" -v rss="$rss" -v bytes="$feed_bytes" \
        -v records="$records" -v ceiling="$ceiling" -v ijson="$ijson" '
        function ratio(reference) {
            if (reference == "" || secs == 0) return "-"
            return sprintf("%.2fx", reference / secs)
        }
        BEGIN {
            speed = secs > 0 ? bytes / secs / 1e6 : 0
            rate = secs > 0 ? records / secs : 0
            printf "| %-26s | %5d | %8.2f | %8.1f | %10.0f | %13.1f | %12s | %9s |\n",
                name, runs, secs, speed, rate, rss / 1024, ratio(ceiling), ratio(ijson)
        }'
done
echo
echo "Ratios are throughput relative to the row named (above 1 is faster)."

# Prints a row's throughput relative to the ceiling of the same round, for every round, and
# their median. Rounds are paired only when every run of both rows succeeded.
per_round_ratios() {
    local name="$1"
    local -a times ceilings
    read -r -a times <<<"${run_seconds[$name]:-}"
    read -r -a ceilings <<<"${run_seconds["simd-json parse-only"]:-}"
    if [[ ${#times[@]} -eq 0 || ${#times[@]} -ne ${#ceilings[@]} ]]; then
        return
    fi
    local index ratios=""
    for index in "${!times[@]}"; do
        ratios+="$(awk -v ceiling="${ceilings[$index]}" -v secs="${times[$index]}" \
            'BEGIN { printf "%.2fx", (secs > 0 ? ceiling / secs : 0) }') "
    done
    local median
    median="$(tr ' ' '\n' <<<"$ratios" | grep . | middle_line)"
    echo "  $name: ${ratios% } (median $median)"
}

if [[ -n "$ceiling" ]]; then
    echo
    echo "Throughput relative to simd-json parse-only in the same round, rounds in order:"
    for name in "feedpipe (null sink)" "feedpipe (file sink)"; do
        per_round_ratios "$name"
    done
fi
