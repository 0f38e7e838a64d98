#!/usr/bin/env bash
# Checks that feedpipe's peak memory does not grow with the feed: runs the null sink on
# generated IP Reputation feeds of several sizes under `/usr/bin/time -v` and prints peak RSS
# and throughput per size.
#
# Usage: perf/memory.sh [--workdir DIR] [--sizes "100000 1000000 10000000"] [--keep]
# Feeds are generated into DIR (default target/perf) and removed afterwards unless --keep is
# given, because the largest one is about 5 GB.

set -euo pipefail

workdir=target/perf
sizes="100000 1000000 10000000"
keep=false

while [[ $# -gt 0 ]]; do
    case "$1" in
        --workdir) workdir="$2"; shift 2 ;;
        --sizes) sizes="$2"; shift 2 ;;
        --keep) keep=true; shift ;;
        -h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
mkdir -p "$workdir"
workdir="$(cd "$workdir" && pwd)"

cargo build --release --quiet -p feedpipe-perf --bin feedpipe-perf
cargo build --release --quiet -p feedpipe
feedpipe="$root/target/release/feedpipe"

printf '| %12s | %14s | %8s | %8s | %13s |\n' records "feed bytes" "time s" "MB/s" "peak RSS MiB"
printf '|%s|%s|%s|%s|%s|\n' "-------------:" "---------------:" "---------:" "---------:" \
    "--------------:"
for records in $sizes; do
    feed="$workdir/IP_Reputation_Data_Feed_${records}_seed1.json"
    generated=false
    if [[ ! -s "$feed" ]]; then
        # Written under another name first, so that an interrupted run leaves no partial feed
        # under the name a later run would reuse.
        "$root/target/release/feedpipe-perf" generate --feed "IP Reputation" \
            --records "$records" --output "$feed.partial" 2>/dev/null
        mv "$feed.partial" "$feed"
        generated=true
    fi
    bytes="$(stat -c %s "$feed")"
    timing="$workdir/memory-time-$records.txt"
    /usr/bin/time -v -o "$timing" "$feedpipe" run --sink null --profile \
        --rejects "$workdir/memory-$records.rejects.jsonl" "$feed" \
        >"$workdir/memory-$records.stdout" 2>"$workdir/memory-$records.stderr"
    wall="$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$timing" |
        awk -F: '{ if (NF == 3) print $1 * 3600 + $2 * 60 + $3; else print $1 * 60 + $2 }')"
    rss="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$timing")"
    awk -v records="$records" -v bytes="$bytes" -v wall="$wall" -v rss="$rss" 'BEGIN {
        printf "| %12d | %14.0f | %8.2f | %8.1f | %13.1f |\n",
            records, bytes, wall, bytes / wall / 1e6, rss / 1024
    }'
    if [[ "$generated" == true && "$keep" == false ]]; then
        rm -f "$feed"
    fi
done
