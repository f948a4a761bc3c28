#!/usr/bin/python3
"""Validates a Helm chart's values file against its values.schema.json.

    validate_values_schema.py VALUES_YAML SCHEMA_JSON

Uses Debian's python3-jsonschema and python3-yaml (scripts/setup-deps.sh),
with the schema's own draft ($schema). Exit status: 0 when the values fit the
schema; 1 with one line per violation ("path: message"); 2 on bad usage, a
file that cannot be read or parsed, or a schema that is not a valid schema.
"""
import json
import sys

import jsonschema
import yaml


def fail(message):
    print(f"validate_values_schema: {message}", file=sys.stderr)
    sys.exit(2)


def main(argv):
    if len(argv) != 3:
        fail("usage: validate_values_schema.py VALUES_YAML SCHEMA_JSON")
    values_path, schema_path = argv[1], argv[2]
    try:
        with open(values_path, encoding="utf-8") as f:
            values = yaml.safe_load(f)
    except (OSError, yaml.YAMLError) as e:
        fail(f"{values_path}: {e}")
    try:
        with open(schema_path, encoding="utf-8") as f:
            schema = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"{schema_path}: {e}")
    if values is None:
        values = {}  # an empty file: Helm's values are then {}
    validator_class = jsonschema.validators.validator_for(schema)
    try:
        validator_class.check_schema(schema)
    except jsonschema.exceptions.SchemaError as e:
        fail(f"{schema_path}: not a valid schema: {e.message}")
    errors = sorted(validator_class(schema).iter_errors(values),
                    key=lambda e: list(map(str, e.absolute_path)))
    for e in errors:
        path = ".".join(str(p) for p in e.absolute_path) or "(top level)"
        print(f"{values_path}: {path}: {e.message}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
