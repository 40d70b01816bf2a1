"""Measures TAXII 2.1 add_objects with the unmodified OASIS taxii2-client (scripts/bench-taxii.sh drives it).

Usage: python3 scripts/bench_taxii_add.py API_ROOT_URL USER PASSWORD [--envelopes N] [--per-envelope K]
                                          [--clients C] [--seed S] [--budget SECONDS]

Posts N envelopes of K STIX 2.1 indicators each (TLP:GREEN, random IPv4 addresses and domain names drawn from the
seed, so two servers get the same bundles) to the first writable collection of the API root, from C clients at once,
each waiting for the server's status (`add_objects(..., wait_for_completion=False)`: the server's answer, not the
completion of what follows), until all are posted or `--budget` seconds (60) have passed (a server that slows down
as its collection grows, like medallion's memory backend, is measured on what it took in that time). Prints one JSON
object: `indicators_per_s` from the first request to the last answer,
`envelopes`, `seconds`, the p50/p99 of a request, and the statuses seen (`pending`/`complete`).
"""

import argparse
import json
import random
import sys
import threading
import time
import uuid

from taxii2client.v21 import ApiRoot

from bench_taxii import percentiles  # the same percentiles as the reads (this script's folder is on the path)

GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"


def envelope(rng, per_envelope):
    """Returns one envelope of `per_envelope` indicators drawn from `rng`."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    objects = []
    for _ in range(per_envelope):
        if rng.random() < 0.5:
            value = ".".join(str(rng.randint(1, 223)) for _ in range(4))
            pattern = f"[ipv4-addr:value = '{value}']"
        else:
            label = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(12))
            pattern = f"[domain-name:value = '{label}.example-bench.net']"
        objects.append({
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{uuid.UUID(int=rng.getrandbits(128), version=4)}",
            "created": now,
            "modified": now,
            "name": "bench indicator",
            "pattern": pattern,
            "pattern_type": "stix",
            "valid_from": now,
            "object_marking_refs": [GREEN],
        })
    return {"objects": objects}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("api_root")
    parser.add_argument("user")
    parser.add_argument("password")
    parser.add_argument("--envelopes", type=int, default=300)
    parser.add_argument("--per-envelope", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--budget", type=float, default=60.0)
    args = parser.parse_args()

    root = ApiRoot(args.api_root, user=args.user, password=args.password)
    writable = [c for c in root.collections if c.can_write]
    if not writable:
        print(json.dumps({"error": "no writable collection"}))
        return 1
    rng = random.Random(args.seed)
    envelopes = [envelope(rng, args.per_envelope) for _ in range(args.envelopes)]

    lock = threading.Lock()
    request_ms, statuses, errors = [], {}, []

    def post(mine):
        # A client of its own per thread: taxii2-client's session is not shared across threads.
        collection = ApiRoot(args.api_root, user=args.user, password=args.password).collections
        collection = next(c for c in collection if c.id == writable[0].id)
        for body in mine:
            if time.perf_counter() - start > args.budget:
                return
            began = time.perf_counter()
            try:
                status = collection.add_objects(body, wait_for_completion=False)
            except Exception as error:  # noqa: BLE001 — every failure is reported, none hidden
                with lock:
                    errors.append(str(error)[:200])
                continue
            ms = (time.perf_counter() - began) * 1000.0
            with lock:
                request_ms.append(ms)
                statuses[status.status] = statuses.get(status.status, 0) + 1

    shares = [envelopes[i::args.clients] for i in range(args.clients)]
    threads = [threading.Thread(target=post, args=(share,)) for share in shares]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    accepted = len(request_ms)
    print(json.dumps({
        "collection": writable[0].id,
        "envelopes": accepted,
        "finished": accepted + len(errors) == args.envelopes,
        "per_envelope": args.per_envelope,
        "clients": args.clients,
        "seconds": round(seconds, 2),
        "indicators_per_s": round(accepted * args.per_envelope / seconds) if seconds else None,
        "request_ms": percentiles(request_ms),
        "statuses": statuses,
        "errors": errors[:5],
        "failed_requests": len(errors),
    }))
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
