#!/usr/bin/env python3
"""Drives Accord's TAXII 2.1 server with the OASIS `taxii2-client`, unmodified, and validates what it reads with the
OASIS `stix2-validator` (pip install taxii2-client stix2-validator).

Usage: taxii_client.py <base url> <agency token> <case reference> <partner token> <page size>

- The agency authenticates with HTTP Basic (the token as password) and states its case reference in the
  X-Accord-Case header (a requests auth hook adds both): discovery -> API root -> collections -> get_objects paged
  with `as_pages` (limit/next) and unpaged, manifest, one object, its versions.
- The partner authenticates with a Bearer token: discovery -> API root -> its inbox -> add_objects (the outcome is
  reported, not asserted here).

Prints one JSON document on stdout that the Rust test (tests/taxii) asserts on. Exits non-zero when the client
itself fails.
"""

import json
import sys

import requests
from stix2validator import ValidationOptions, validate_instance
from taxii2client.v21 import Server, as_pages


class BasicWithCase(requests.auth.HTTPBasicAuth):
    """HTTP Basic with the token as password, plus Accord's case-reference header."""

    def __init__(self, token, case):
        super().__init__("taxii", token)
        self.case = case

    def __call__(self, request):
        request = super().__call__(request)
        request.headers["X-Accord-Case"] = self.case
        return request


class Bearer(requests.auth.AuthBase):
    def __init__(self, token):
        self.token = token

    def __call__(self, request):
        request.headers["Authorization"] = "Bearer " + self.token
        return request


def validate(objects):
    """Validates the objects as one bundle; returns (errors, warnings)."""
    bundle = {"type": "bundle", "id": "bundle--6f6b2d0e-2a53-4b4e-9d8e-0e2f5d8e7a11", "objects": objects}
    result = validate_instance(bundle, ValidationOptions(version="2.1"))
    text = lambda item: str(getattr(item, "message", item))  # noqa: E731
    return [text(e) for e in result.errors], [text(w) for w in result.warnings]


def agency(base, token, case, page_size):
    server = Server(base + "/taxii2/", auth=BasicWithCase(token, case))
    out = {"discovery_title": server.title, "api_roots": [root.url for root in server.api_roots]}
    root = server.default or server.api_roots[0]
    out["api_root_title"] = root.title
    out["api_root_versions"] = root.versions
    out["collections"] = [
        {"id": c.id, "title": c.title, "can_read": c.can_read, "can_write": c.can_write}
        for c in root.collections
    ]
    readable = [c for c in root.collections if c.can_read]
    if not readable:
        return out
    collection = sorted(readable, key=lambda c: c.title)[0]
    out["read_collection"] = collection.title

    pages = []
    for envelope in as_pages(collection.get_objects, per_request=page_size):
        pages.append(envelope)
    paged = [obj for envelope in pages for obj in envelope.get("objects", [])]
    out["pages"] = len(pages)
    out["page_sizes"] = [len(envelope.get("objects", [])) for envelope in pages]
    out["paged_objects"] = paged
    unpaged = collection.get_objects().get("objects", [])
    out["unpaged_ids"] = [obj["id"] for obj in unpaged]

    manifest = collection.get_manifest().get("objects", [])
    out["manifest_ids"] = [record["id"] for record in manifest]

    reports = [obj for obj in unpaged if obj["type"] == "report"]
    if reports:
        one = collection.get_object(reports[0]["id"]).get("objects", [])
        out["one_object_ids"] = [obj["id"] for obj in one]
        versions = collection.object_versions(reports[0]["id"])
        out["one_object_versions"] = versions.get("versions", [])
    indicators = collection.get_objects(type="indicator").get("objects", [])
    out["indicator_filter_types"] = sorted({obj["type"] for obj in indicators})

    errors, warnings = validate(unpaged)
    out["validator_errors"] = errors
    out["validator_warnings"] = len(warnings)
    return out


def partner(base, token):
    server = Server(base + "/taxii2/", auth=Bearer(token))
    root = server.api_roots[0]
    out = {
        "collections": [
            {"id": c.id, "title": c.title, "can_read": c.can_read, "can_write": c.can_write}
            for c in root.collections
        ]
    }
    inbox = [c for c in root.collections if c.can_write]
    if not inbox:
        return out
    envelope = {
        "objects": [
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
                "created": "2026-11-20T08:00:00.000Z",
                "modified": "2026-11-20T08:00:00.000Z",
                "name": "C2",
                "pattern": "[ipv4-addr:value = '198.51.100.7']",
                "pattern_type": "stix",
                "valid_from": "2026-11-20T08:00:00Z",
                "object_marking_refs": ["marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"],
            }
        ]
    }
    try:
        status = inbox[0].add_objects(envelope, wait_for_completion=False)
        out["add_objects"] = {"ok": True, "status": status.status, "id": status.id}
    except requests.exceptions.HTTPError as error:
        response = error.response
        body = None
        try:
            body = response.json()
        except ValueError:
            pass
        out["add_objects"] = {
            "ok": False,
            "http_status": response.status_code,
            "content_type": response.headers.get("Content-Type"),
            "body": body,
        }
    return out


def main():
    base, agency_token, case, partner_token, page_size = sys.argv[1:6]
    result = {
        "agency": agency(base, agency_token, case, int(page_size)),
        "partner": partner(base, partner_token),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
