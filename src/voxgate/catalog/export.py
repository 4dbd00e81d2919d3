"""The catalog schema as JSON Schema, for editors and other tools that write catalog rows."""

import json
from pathlib import Path

from voxgate.catalog.schema import ModelRow

SCHEMA_FILE = Path(__file__).parent / "schema.json"


def model_row_json_schema() -> str:
    return json.dumps(ModelRow.model_json_schema(), indent=2, sort_keys=True) + "\n"


def write_schema() -> Path:
    SCHEMA_FILE.write_text(model_row_json_schema())
    return SCHEMA_FILE
