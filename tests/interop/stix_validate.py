#!/usr/bin/env python3
"""Validates STIX 2.1 bundles with the OASIS `stix2-validator` (pip install stix2-validator).

Input: one bundle per line (JSON). Output: one JSON object per line, in input order:
`{"valid": bool, "errors": ["…"], "warnings": ["…"]}`. Exit status 0 when every bundle was read and validated
(valid or not); the caller decides. Used by the accord-stix export test and the TAXII interop test, so that every
bundle Accord emits is checked by the reference validator.
"""

import json
import sys

from stix2validator import ValidationOptions, validate_instance


def messages(result, kind):
    out = []
    for item in getattr(result, kind, []) or []:
        out.append(str(getattr(item, "message", item)))
    return out


def main():
    options = ValidationOptions(version="2.1")
    for line in sys.stdin:
        if not line.strip():
            continue
        bundle = json.loads(line)
        result = validate_instance(bundle, options)
        errors = messages(result, "errors")
        warnings = messages(result, "warnings")
        print(json.dumps({"valid": bool(result.is_valid) and not errors, "errors": errors, "warnings": warnings}))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
