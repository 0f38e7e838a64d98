#!/usr/bin/env python3
"""Stream an IP Reputation feed into ThreatConnect indicator objects, one JSON line each.

This is the peer that the comparison measures feedpipe against: a streaming converter built on
ijson, the approach Kaspersky's own integrations take. It maps each record the same way the
whole-file Rust peer and the jq peer do.

Usage: ijson_convert.py FEED.json OUTPUT.jsonl
"""

import json
import sys

import ijson

# Rating of a record without a popularity of 1 to 5.
DEFAULT_RATING = 0
# Confidence of a record without a threat score, as in Kaspersky's own integrations.
DEFAULT_CONFIDENCE = 100


def to_indicator(record):
    """Map one IP Reputation record to a ThreatConnect batch indicator object."""
    popularity = record.get("popularity")
    rating = 6 - popularity if popularity in (1, 2, 3, 4, 5) else DEFAULT_RATING
    category = record.get("category", "")
    first_seen = record.get("first_seen", "")
    return {
        "type": "Address",
        "summary": record.get("ip"),
        "rating": rating,
        "confidence": record.get("threat_score", DEFAULT_CONFIDENCE),
        "tag": [{"name": "Kaspersky"}, {"name": "IP_Reputation"}, {"name": category}],
        "attribute": [
            {
                "type": "Description",
                "value": f"Kaspersky IP Reputation: {category}, first seen {first_seen}",
            },
            {"type": "Source", "value": "Kaspersky IP Reputation Data Feed"},
        ],
    }


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: ijson_convert.py FEED.json OUTPUT.jsonl")
    records = 0
    with open(sys.argv[1], "rb") as feed, open(sys.argv[2], "w", encoding="utf-8") as out:
        for record in ijson.items(feed, "item"):
            out.write(json.dumps(to_indicator(record), ensure_ascii=False, separators=(",", ":")))
            out.write("\n")
            records += 1
    print(f"Converted {records} records with the ijson {ijson.backend} backend.", file=sys.stderr)


if __name__ == "__main__":
    main()
