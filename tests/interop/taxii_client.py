#!/usr/bin/env python3
"""Drives Accord's TAXII 2.1 server with the OASIS `taxii2-client`, unmodified, and validates what it reads with the
OASIS `stix2-validator` (pip install taxii2-client stix2-validator).

Usage: taxii_client.py partner <base url> <partner token>
       taxii_client.py agency <base url> <agency token> <case reference> <page size>
       taxii_client.py bound <base url> <user> <case-bound token> <page size>

- The agency authenticates with HTTP Basic (the token as password) and states its case reference in the
  X-Accord-Case header (a requests auth hook adds both): discovery -> API root -> collections -> get_objects paged
  with `as_pages` (limit/next) and unpaged, manifest, one object, its versions.
- The partner authenticates with a Bearer token: discovery -> API root -> its inbox -> add_objects, whose status
  resource the client polls until it is complete -> the status again by id -> an envelope with one valid and one
  invalid indicator (lenient: the invalid one in failures, the other in successes) -> an envelope with an invalid
  pattern only (refused) -> reading the inbox (refused by the client: the inbox is not readable).

- With a case-bound token, the client is configured the way a SIEM or MISP is: a URL, a user and a password (the
  token), nothing else — no header, no hook: discovery -> collections -> get_objects paged -> added_after polling ->
  manifest.

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
    out["read_collection_id"] = collection.id

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


def bound(base, user, password, page_size):
    """A stock configuration: URL, user, password. Reads the one collection the case-bound token sees."""
    server = Server(base + "/taxii2/", user=user, password=password)
    root = server.api_roots[0]
    out = {"collections": [{"id": c.id, "title": c.title, "can_read": c.can_read} for c in root.collections]}
    readable = [c for c in root.collections if c.can_read]
    if not readable:
        return out
    collection = readable[0]
    pages = list(as_pages(collection.get_objects, per_request=page_size))
    objects = [obj for envelope in pages for obj in envelope.get("objects", [])]
    out["pages"] = len(pages)
    out["object_ids"] = [obj["id"] for obj in objects]
    out["manifest_ids"] = [record["id"] for record in collection.get_manifest().get("objects", [])]
    # Polling as a feed does: everything added after the latest date seen so far.
    latest = max((record["date_added"] for record in collection.get_manifest().get("objects", [])), default=None)
    if latest is not None:
        newer = collection.get_objects(added_after=latest).get("objects", [])
        out["added_after_latest"] = [obj["id"] for obj in newer]
    return out


TLP_AMBER = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82"


def envelope_with(objects):
    return {"objects": objects}


def partner_envelope():
    """One envelope that a partner's TAXII client would push: a report, an indicator, an observable, an identity."""
    created = "2026-11-20T08:00:00.000Z"
    return envelope_with(
        [
            {
                "type": "report",
                "spec_version": "2.1",
                "id": "report--6c0f9a48-4d0c-4d3b-8f1e-3a5e4f0c9b21",
                "created": created,
                "modified": created,
                "name": "TAXII-pushed campaign",
                "description": "C2 seen by the SOC",
                "published": created,
                "report_types": ["threat-report"],
                "object_refs": [
                    "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
                    "ipv4-addr--0a6bb4ae-4f53-5c34-8f3e-1c4a6e8f8d9b",
                ],
                "object_marking_refs": [TLP_AMBER],
            },
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
                "created": created,
                "modified": created,
                "name": "C2",
                "pattern": "[ipv4-addr:value = '198.51.100.7'] OR [domain-name:value = 'taxii-pushed.example.com']",
                "pattern_type": "stix",
                "valid_from": "2026-11-20T08:00:00Z",
                "object_marking_refs": [TLP_AMBER],
            },
            {
                "type": "ipv4-addr",
                "spec_version": "2.1",
                "id": "ipv4-addr--0a6bb4ae-4f53-5c34-8f3e-1c4a6e8f8d9b",
                "value": "198.51.100.8",
                "object_marking_refs": [TLP_AMBER],
            },
        ]
    )


def http_error(error):
    response = error.response
    body = None
    try:
        body = response.json()
    except ValueError:
        pass
    return {
        "ok": False,
        "http_status": response.status_code,
        "content_type": response.headers.get("Content-Type"),
        "body": body,
    }


def status_out(status):
    return {
        "ok": True,
        "id": status.id,
        "status": status.status,
        "total_count": status.total_count,
        "success_count": status.success_count,
        "failure_count": status.failure_count,
        "pending_count": status.pending_count,
        "successes": [detail["id"] for detail in status.successes],
        "failures": [detail.get("message") for detail in status.failures],
        "failure_ids": [detail["id"] for detail in status.failures],
    }


def partner(base, token):
    """discovery -> API root -> collections -> add_objects -> status (polled until complete) -> a refused add."""
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
    inbox = inbox[0]
    try:
        # taxii2-client polls the status resource until it is complete.
        status = inbox.add_objects(partner_envelope(), wait_for_completion=True, poll_interval=0.2, timeout=60)
        out["add_objects"] = status_out(status)
        # The status resource read again, on its own URL, through the API root.
        again = root.get_status(status.id)
        out["status_again"] = status_out(again)
    except requests.exceptions.HTTPError as error:
        out["add_objects"] = http_error(error)
    invalid = envelope_with(
        [
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": "indicator--1d1b5e8c-0b8f-4d5e-9a7c-2f3e4d5c6b7a",
                "created": "2026-11-20T08:00:00.000Z",
                "modified": "2026-11-20T08:00:00.000Z",
                "pattern": "[ipv4-addr:value = '198.51.100.9'",
                "pattern_type": "stix",
                "valid_from": "2026-11-20T08:00:00Z",
                "object_marking_refs": [TLP_AMBER],
            }
        ]
    )
    # Lenient per object: the valid indicator goes on, the one whose domain is not a domain is a failure.
    mixed = envelope_with(
        [
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": "indicator--6a1e4f0c-3b2d-4c5e-8f7a-9b0c1d2e3f40",
                "created": "2026-11-20T08:00:00.000Z",
                "modified": "2026-11-20T08:00:00.000Z",
                "pattern": "[domain-name:value = 'taxii-lenient.example.com']",
                "pattern_type": "stix",
                "valid_from": "2026-11-20T08:00:00Z",
                "object_marking_refs": [TLP_AMBER],
            },
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": "indicator--7b2f5a1d-4c3e-4d6f-9a8b-0c1d2e3f4a51",
                "created": "2026-11-20T08:00:00.000Z",
                "modified": "2026-11-20T08:00:00.000Z",
                "pattern": "[domain-name:value = 'login.bank-a.example/verify']",
                "pattern_type": "stix",
                "valid_from": "2026-11-20T08:00:00Z",
                "object_marking_refs": [TLP_AMBER],
            },
        ]
    )
    try:
        status = inbox.add_objects(mixed, wait_for_completion=True, poll_interval=0.2, timeout=60)
        out["lenient_add"] = status_out(status)
    except requests.exceptions.HTTPError as error:
        out["lenient_add"] = http_error(error)
    try:
        inbox.add_objects(invalid, wait_for_completion=False)
        out["invalid_add"] = {"ok": True}
    except requests.exceptions.HTTPError as error:
        out["invalid_add"] = http_error(error)
    try:
        inbox.get_objects()
        out["read_inbox"] = {"ok": True}
    except Exception as error:  # taxii2-client refuses to read a collection that is not can_read
        out["read_inbox"] = {"ok": False, "error": type(error).__name__}
    return out


def main():
    phase = sys.argv[1]
    if phase == "partner":
        base, partner_token = sys.argv[2:4]
        print(json.dumps(partner(base, partner_token)))
    elif phase == "validate":
        errors, warnings = validate(json.loads(sys.argv[2]))
        print(json.dumps({"errors": errors, "warnings": len(warnings)}))
    elif phase == "bound":
        base, user, password, page_size = sys.argv[2:6]
        print(json.dumps(bound(base, user, password, int(page_size))))
    else:
        base, agency_token, case, page_size = sys.argv[2:6]
        print(json.dumps(agency(base, agency_token, case, int(page_size))))


if __name__ == "__main__":
    main()
