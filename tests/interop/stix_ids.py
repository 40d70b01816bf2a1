#!/usr/bin/env python3
"""Prints the STIX 2.1 id the OASIS `stix2` library gives each observable read from standard input.

Input: one JSON object per line, `{"type": "<accord observable type>", "value": "<canonical value>"}`.
Output: one id per line, in input order (`ipv4-addr--<uuid>`).

Used by the accord-stix interop test (crates/accord-stix/tests/interop) to check Accord's deterministic ids
against the reference implementation: `pip install stix2`.

- ipv4-addr, ipv6-addr, domain-name, url, email-addr: the stix2 object with `value`.
- file: `stix2.File(hashes={<algorithm by hex length>: value})` when the value is lower-case hex of 32, 40, 64 or 128
  digits, else `stix2.File(name=value)` (Accord's rule: a canonical `file` value is a digest exactly then).
- x509-certificate: `stix2.X509Certificate(serial_number=value)`.
- vulnerability: a STIX SDO, whose ids the standard leaves random; Accord uses UUIDv5 in the SCO namespace over the
  JCS form of `{"name": "CVE-…"}`, computed here with stix2's own canonicalizer and namespace.
"""

import json
import sys
import uuid

import stix2
from stix2.base import SCO_DET_ID_NAMESPACE
from stix2.canonicalization.Canonicalize import canonicalize

HASH_ALGORITHMS = {32: "MD5", 40: "SHA-1", 64: "SHA-256", 128: "SHA-512"}

VALUE_TYPES = {
    "ipv4-addr": stix2.IPv4Address,
    "ipv6-addr": stix2.IPv6Address,
    "domain-name": stix2.DomainName,
    "url": stix2.URL,
    "email-addr": stix2.EmailAddress,
}


def stix_id(kind, value):
    if kind in VALUE_TYPES:
        return VALUE_TYPES[kind](value=value).id
    if kind == "file":
        if len(value) in HASH_ALGORITHMS and all(c in "0123456789abcdef" for c in value):
            return stix2.File(hashes={HASH_ALGORITHMS[len(value)]: value}).id
        return stix2.File(name=value).id
    if kind == "x509-certificate":
        return stix2.X509Certificate(serial_number=value).id
    if kind == "vulnerability":
        data = canonicalize({"name": value}, utf8=False)
        return "vulnerability--" + str(uuid.uuid5(SCO_DET_ID_NAMESPACE, data))
    raise ValueError("unknown observable type: " + kind)


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        observable = json.loads(line)
        print(stix_id(observable["type"], observable["value"]))


if __name__ == "__main__":
    main()
