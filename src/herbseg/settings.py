"""A herbseg config outside Snakemake: the workflow's schema with its defaults filled in.

The schema (``workflow/schemas/config.schema.yaml``) stays the one place defaults live; the
``herbseg`` command reads it from the source tree, or from ``<prefix>/share/herbseg`` where
``pip install`` puts a copy.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import yaml

from herbseg.startup import ConfigError, nulls_from_command_line, schema_error

SCHEMA_NAME = "config.schema.yaml"


def schema_path() -> Path:
    """The config schema of this checkout, or the installed copy."""
    candidates = [
        Path(__file__).resolve().parents[2] / "workflow" / "schemas" / SCHEMA_NAME,
        Path(sys.prefix) / "share" / "herbseg" / "schemas" / SCHEMA_NAME,
    ]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(f"herbseg's config schema is not at {[str(p) for p in candidates]}")


def fill_defaults(config: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """``config`` with every schema default filled in (what Snakemake's ``validate(...,
    set_default=True)`` does), recursively; the input is not changed."""
    out = copy.deepcopy(config)
    for key, sub in schema.get("properties", {}).items():
        if key not in out and "default" in sub:
            out[key] = copy.deepcopy(sub["default"])
        if sub.get("type") == "object" and isinstance(out.get(key), dict):
            out[key] = fill_defaults(out[key], sub)
    return out


def load_config(path: str | Path | None = None, **overrides: Any) -> dict[str, Any]:
    """A config file (or none) plus top-level overrides, null words read as null, validated by
    the schema (a violation is a :class:`ConfigError` naming the key) and with defaults filled."""
    config = yaml.safe_load(Path(path).read_text()) if path else {}
    config = {**(config or {}), **{k: v for k, v in overrides.items() if v is not None}}
    schema = yaml.safe_load(schema_path().read_text())
    nulls_from_command_line(config, schema)
    if error := schema_error(config, schema):
        raise error
    return fill_defaults(config, schema)


__all__ = ["ConfigError", "fill_defaults", "load_config", "schema_path"]
