#!/usr/bin/env python3
"""Stream an IP Reputation feed into ThreatConnect indicator objects, one JSON line each.

This is the peer that the comparison measures feedpipe against: a streaming converter built on
ijson, the approach Kaspersky's own integrations take. It writes, line for line, the same
indicator objects as `feedpipe run --sink file` with the default settings: rating, confidence,
tags, Description and Source, one attribute per remaining field, and ISO dates. A test in
perf/tests checks that the two outputs are equal.

Usage: ijson_convert.py [--backend NAME] FEED.json OUTPUT.jsonl

--backend picks an ijson backend (yajl2_c, yajl2_cffi, yajl2 or python); by default ijson picks
the fastest one installed, which for a wheel from PyPI is yajl2_c.
"""

import datetime
import decimal
import ipaddress
import json
import os
import sys

import ijson

FEED_NAME = "IP Reputation"
FEED_TAGS = ("Kaspersky", "IP_Reputation")
SOURCE_PREFIX = "Kaspersky IP Reputation Data Feed (feed ID 68), file "
DEFAULT_RATING = 3
DEFAULT_CONFIDENCE = 100
MAX_ATTRIBUTE_CHARS = 500
MAX_TAG_CHARS = 128
TRUNCATION_MARKER = "… [truncated]"
FALLBACK_TYPE = "Additional Analysis and Context"
ATTRIBUTE_TYPES = {
    "ip_whois": "IP WhoIs",
    "files": "Files",
    "users_geo": "Users Geo",
    "ip_geo": "IP Geo",
    "category": "Category",
    "threat": "Threat",
    "industry": "Industry",
    "severity": "Severity",
    "id": "Kaspersky Record ID",
    "popularity": "Popularity",
    "threat_score": "Threat Score",
}


def whole_number(value):
    """Read a whole number from an integer, an integral float or a string of digits, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, (float, decimal.Decimal)):
        return int(value) if value == int(value) and abs(value) < 9e15 else None
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] in "+-" else text
        if digits.isascii() and digits.isdigit():
            return int(text)
    return None


def score_number(value):
    """Read a threat score: a whole number, or a fractional one rounded half away from zero."""
    number = whole_number(value)
    if number is not None:
        return number
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        return None
    if number != number or abs(number) >= 1e6:
        return None
    return int(decimal.Decimal(number).quantize(0, rounding=decimal.ROUND_HALF_UP))


def feed_date(text):
    """Convert `dd.MM.yyyy HH:mm` or `dd.MM.yyyy` to ISO 8601 UTC. Return None for other text."""
    text = text.strip()
    # Kaspersky's own form is read by slicing, because strptime costs several times more.
    if len(text) == 16 and text[2] + text[5] + text[10] + text[13] == ".. :":
        day, month, year, hour, minute = text[:2], text[3:5], text[6:10], text[11:13], text[14:]
        digits = day + month + year + hour + minute
        if digits.isascii() and digits.isdigit():
            try:
                datetime.datetime(int(year), int(month), int(day), int(hour), int(minute))
            except ValueError:
                return None
            return f"{year}-{month}-{day}T{hour}:{minute}:00Z"
    for form in ("%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y"):
        try:
            moment = datetime.datetime.strptime(text, form)
        except ValueError:
            continue
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return None


def scalar_text(value):
    """Return the text of a string, number or boolean, and None for null, arrays and objects."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, decimal.Decimal)):
        return json.dumps(value) if not isinstance(value, decimal.Decimal) else str(value)
    return None


def inline(value):
    """Render a value on one line. Return None when it carries nothing."""
    if isinstance(value, list):
        return "[" + ", ".join(filter(None, map(inline, value))) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(filter(None, (field(k, v) for k, v in value.items()))) + "}"
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return scalar_text(value)


def field(key, value):
    text = inline(value)
    return f"{key}: {text}" if text is not None else None


def render(value):
    """Render attribute text: an object as `key: value` lines, an array as one line per element."""
    if isinstance(value, dict):
        text = "\n".join(filter(None, (field(k, v) for k, v in value.items())))
    elif isinstance(value, list):
        lines = []
        for element in value:
            if isinstance(element, dict):
                line = ", ".join(filter(None, (field(k, v) for k, v in element.items())))
            else:
                line = inline(element)
            if line:
                lines.append(line)
        text = "\n".join(lines)
    else:
        text = inline(value) or ""
    return text if text.strip() else None


def cut(text):
    if len(text) <= MAX_ATTRIBUTE_CHARS:
        return text
    return text[: MAX_ATTRIBUTE_CHARS - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER


def scalars(value):
    values = value if isinstance(value, list) else [value]
    return [text for text in map(scalar_text, values) if text is not None]


def add_tag(tags, value):
    value = value.strip()
    if not value:
        return
    value = value[:MAX_TAG_CHARS].rstrip()
    if all(value.lower() != tag.lower() for tag in tags):
        tags.append(value)


def to_indicator(record, source_text):
    """Map one IP Reputation record to a ThreatConnect batch indicator object."""
    record = {key: value for key, value in record.items() if value is not None}
    consumed = set()

    popularity = whole_number(record.get("popularity"))
    if popularity is not None and 1 <= popularity <= 5:
        rating = 6 - popularity
        consumed.add("popularity")
    else:
        rating = DEFAULT_RATING

    confidence = DEFAULT_CONFIDENCE
    score = score_number(record["threat_score"]) if "threat_score" in record else None
    if score is not None and 0 <= score <= 100:
        confidence = score
        consumed.add("threat_score")

    dates = {}
    for name in ("first_seen", "last_seen"):
        value = record.get(name)
        if isinstance(value, str) and value.strip():
            dates[name] = feed_date(value)
            if dates[name] is not None:
                consumed.add(name)

    tags = list(FEED_TAGS)
    for value in scalars(record.get("category")):
        add_tag(tags, value)
    files = record.get("files")
    if isinstance(files, dict):
        files = [files]
    if not isinstance(files, list):
        files = []
    for element in files:
        if isinstance(element, dict):
            for value in scalars(element.get("threat")):
                add_tag(tags, value)

    parts = []
    for name, prefix in (("category", ""), ("threat", ""), ("industry", "industry ")):
        for value in scalars(record.get(name)):
            part = prefix + value.strip()
            if value.strip() and part not in parts:
                parts.append(part)
    description = f"Kaspersky {FEED_NAME}"
    if parts:
        description += ": " + ", ".join(parts)
    attributes = [("Description", description), ("Source", source_text)]

    for name, value in record.items():
        if name == "ip" or name in consumed:
            continue
        if name in ("first_seen", "last_seen"):
            original = value if isinstance(value, str) else json.dumps(value)
            if original.strip():
                attributes.append((name.replace("_", " ").title(), original))
            continue
        text = render(value)
        if text is None:
            continue
        if name in ATTRIBUTE_TYPES:
            attributes.append((ATTRIBUTE_TYPES[name], text))
        else:
            separator = ":\n" if "\n" in text else ": "
            attributes.append((FALLBACK_TYPE, f"{name}{separator}{text}"))

    indicator = {
        "type": "Address",
        "summary": str(ipaddress.ip_address(record["ip"].strip())),
        "rating": rating,
        "confidence": confidence,
        "tag": [{"name": tag} for tag in tags],
        "attribute": [{"type": kind, "value": cut(text)} for kind, text in attributes],
    }
    if dates.get("first_seen"):
        indicator["firstSeen"] = dates["first_seen"]
    if dates.get("last_seen"):
        indicator["lastSeen"] = dates["last_seen"]
    return indicator


def main():
    arguments = sys.argv[1:]
    backend = None
    if arguments[:1] == ["--backend"]:
        backend, arguments = arguments[1], arguments[2:]
    if len(arguments) != 2:
        sys.exit("usage: ijson_convert.py [--backend NAME] FEED.json OUTPUT.jsonl")
    parser = ijson.get_backend(backend) if backend else ijson
    feed_path, output_path = arguments
    source_text = SOURCE_PREFIX + os.path.basename(feed_path)
    records = 0
    with open(feed_path, "rb") as feed, open(output_path, "w", encoding="utf-8") as out:
        for record in parser.items(feed, "item", use_float=True):
            indicator = to_indicator(record, source_text)
            out.write(json.dumps(indicator, ensure_ascii=False, separators=(",", ":")))
            out.write("\n")
            records += 1
    name = backend or ijson.backend
    print(f"Converted {records} records with the ijson {name} backend.", file=sys.stderr)


if __name__ == "__main__":
    main()
