"""Validate JSON documents against a JSON Schema with the reference
python-jsonschema implementation (draft 2020-12).

Usage: validate_schema.py SCHEMA DOCS
DOCS is a JSON array of documents; prints a JSON array of booleans.
"""
import json
import sys

import jsonschema

with open(sys.argv[1]) as f:
    schema = json.load(f)
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
with open(sys.argv[2]) as f:
    docs = json.load(f)
print(json.dumps([validator.is_valid(d) for d in docs]))
