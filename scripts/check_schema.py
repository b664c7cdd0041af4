"""Validates JSON documents against the published shop-event schema.

Reads one JSON document per line on standard input and prints "valid" or "invalid: <reason>"
per line, so the Rust parser's verdicts can be compared with an independent validator's.

    python scripts/check_schema.py schema/shop-event.v1.json < events.jsonl
"""

import json
import sys

from jsonschema import Draft202012Validator, FormatChecker


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        schema = json.load(f)
    Draft202012Validator.check_schema(schema)
    checker = FormatChecker()
    # Without rfc3339-validator, jsonschema silently stops checking timestamps.
    if "date-time" not in checker.checkers:
        sys.exit("jsonschema cannot check date-time here: install rfc3339-validator")
    validator = Draft202012Validator(schema, format_checker=checker)
    for line in sys.stdin:
        if not line.strip():
            continue
        errors = sorted(validator.iter_errors(json.loads(line)), key=lambda e: list(e.path))
        print("valid" if not errors else f"invalid: {errors[0].message[:200]}", flush=True)


if __name__ == "__main__":
    main()
