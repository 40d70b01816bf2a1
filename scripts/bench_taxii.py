"""Measures a TAXII 2.1 collection with the unmodified OASIS taxii2-client (scripts/bench-taxii.sh drives it).

Usage: python3 scripts/bench_taxii.py API_ROOT_URL USER PASSWORD [--budget SECONDS] [--lookups N] [--pages N]
                                      [--dump FILE]

Reads the first readable collection of the API root and prints one JSON object:
- `first_page_ms`: p50/p99 of `get_objects(limit=1000)` (the first page), `--pages` times;
- `full_read`: a paged read with `as_pages(per_request=1000)` until the end or `--budget` seconds: objects, seconds,
  objects/s, whether it finished, and p50/p99 of each page;
- `match_id_ms`: p50/p99 of `get_objects(id=…)` for `--lookups` ids sampled from what the read returned;
- `added_after_ms`: p50/p99 of `get_objects(added_after=<now>)` (a SIEM's poll when nothing is new).
Works against any TAXII 2.1 server (Accord with a case-bound token, medallion with its users). With `--dump`, the
objects read (and their manifest) are written as a medallion memory-backend data file: medallion then serves the same
objects with the same `date_added` (scripts/bench-taxii.sh runs it side by side).
"""

import argparse
import json
import random
import sys
import time

from datetime import datetime, timezone

from taxii2client.v21 import ApiRoot, as_pages


def percentiles(samples):
    if not samples:
        return None
    ordered = sorted(samples)

    def pick(q):
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {"n": len(ordered), "p50": pick(0.50), "p99": pick(0.99), "max": round(ordered[-1], 2)}


def timed(call):
    start = time.perf_counter()
    result = call()
    return result, (time.perf_counter() - start) * 1000.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("api_root")
    parser.add_argument("user")
    parser.add_argument("password")
    parser.add_argument("--budget", type=float, default=120.0)
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--collection", default=None, help="a collection id (default: the first readable one)")
    parser.add_argument("--dump", default=None, help="write what was read as a medallion data file")
    args = parser.parse_args()

    root = ApiRoot(args.api_root, user=args.user, password=args.password)
    readable = [c for c in root.collections if c.can_read and (args.collection in (None, c.id))]
    if not readable:
        print(json.dumps({"error": "no readable collection"}))
        return 1
    collection = readable[0]
    out = {"collection": collection.id}

    # Each timed phase other than the full read stops after a quarter of the budget (medallion can take seconds per
    # request); its sample count says how many requests it made.
    phase = args.budget / 4

    first = []
    began = time.perf_counter()
    for _ in range(args.pages):
        _, ms = timed(lambda: collection.get_objects(limit=1000))
        first.append(ms)
        if time.perf_counter() - began > phase:
            break
    out["first_page_ms"] = percentiles(first)

    ids, objects, page_ms, kept = [], 0, [], []
    start = time.perf_counter()
    finished = True
    pages = as_pages(collection.get_objects, per_request=1000)
    while True:
        began = time.perf_counter()
        try:
            envelope = next(pages)
        except StopIteration:
            break
        page_ms.append((time.perf_counter() - began) * 1000.0)
        for obj in envelope.get("objects", []):
            objects += 1
            if args.dump:
                kept.append(obj)
            if len(ids) < 200_000:
                ids.append(obj["id"])
        if time.perf_counter() - start > args.budget:
            finished = not envelope.get("more", False)
            break
    seconds = time.perf_counter() - start
    out["full_read"] = {
        "objects": objects,
        "seconds": round(seconds, 2),
        "objects_per_s": round(objects / seconds) if seconds else None,
        "finished": finished,
        "page_ms": percentiles(page_ms),
    }

    rng = random.Random(7)
    sample = [rng.choice(ids) for _ in range(args.lookups)] if ids else []
    lookups, missing = [], 0
    began = time.perf_counter()
    for object_id in sample:
        envelope, ms = timed(lambda: collection.get_objects(id=object_id))
        lookups.append(ms)
        if not any(obj["id"] == object_id for obj in envelope.get("objects", [])):
            missing += 1
        if time.perf_counter() - began > phase:
            break
    out["match_id_ms"] = percentiles(lookups)
    out["match_id_missing"] = missing

    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    polls, newer = [], 0
    began = time.perf_counter()
    for _ in range(50):
        envelope, ms = timed(lambda: collection.get_objects(added_after=now))
        polls.append(ms)
        newer = len(envelope.get("objects", []))
        if time.perf_counter() - began > phase:
            break
    out["added_after_ms"] = percentiles(polls)
    out["added_after_objects"] = newer
    if args.dump and finished:
        dump(collection, kept, args.dump)
    print(json.dumps(out))
    return 0


def dump(collection, objects, path):
    """Writes `objects` with the collection's manifest as a medallion memory-backend data file (API root `accord`)."""
    manifest = [record for page in as_pages(collection.get_manifest, per_request=1000) for record in page.get("objects", [])]
    versions = {record["id"]: record["version"] for record in manifest}
    for obj in objects:
        # medallion versions an object without `modified`/`created` by its hidden `_date_added`.
        if "modified" not in obj and "created" not in obj:
            obj["_date_added"] = versions.get(obj["id"])
    data = {
        "/discovery": {
            "title": "medallion with Accord's objects",
            "default": "http://127.0.0.1:5000/accord/",
            "api_roots": ["http://127.0.0.1:5000/accord/"],
        },
        "accord": {
            "information": {
                "title": "accord",
                "versions": ["application/taxii+json;version=2.1"],
                "max_content_length": 104857600,
            },
            "status": [],
            "collections": [{
                "id": collection.id,
                "title": "Accord's collection, served by medallion",
                "can_read": True,
                "can_write": True,
                "media_types": ["application/stix+json;version=2.1"],
                "objects": objects,
                "manifest": manifest,
            }],
        },
    }
    with open(path, "w", encoding="utf-8") as out:
        json.dump(data, out)


if __name__ == "__main__":
    sys.exit(main())
