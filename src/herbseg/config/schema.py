"""The config schema, the one place defaults live, and what reads it outside Snakemake.

``workflow/schemas/config.schema.yaml`` is read from the source tree, or from
``<prefix>/share/herbseg`` where ``pip install`` puts a copy. A value that breaks it is a
:class:`ConfigError`: one sentence naming the dotted key, not the sub-schema Snakemake prints.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

# Words that mean "no value" when typed on the command line: `--config annotations=null` arrives
# as the string "null", which YAML in a config file would have read as null.
NULL_WORDS = frozenset({"null", "none", "~", "nil", ""})


class ConfigError(ValueError):
    """A config key (dotted, e.g. ``model.encoder``) whose value cannot work, and what to do."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"config key '{key}': {message}")
        self.key = key


SCHEMA_NAME = "config.schema.yaml"


def schema_path() -> Path:
    """The config schema of this checkout, or the installed copy."""
    candidates = [
        Path(__file__).resolve().parents[3] / "workflow" / "schemas" / SCHEMA_NAME,
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


def merge_config(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` merged into a copy of ``base`` the way Snakemake merges ``--configfile a b``:
    nested sections key by key, anything else replaced."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = (
            merge_config(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
        )
    return out


def load_config(
    paths: str | Path | Sequence[str | Path] | None = None, **overrides: Any
) -> dict[str, Any]:
    """Config files (merged in order, as Snakemake merges ``--configfile config.yaml demo.yaml``)
    plus top-level overrides, null words read as null, validated by the schema (a violation is a
    :class:`ConfigError` naming the key) and with defaults filled."""
    files = [paths] if isinstance(paths, (str, Path)) else list(paths or [])
    config: dict[str, Any] = {}
    for path in files:
        config = merge_config(config, yaml.safe_load(Path(path).read_text()) or {})
    config = {**config, **{k: v for k, v in overrides.items() if v is not None}}
    schema = yaml.safe_load(schema_path().read_text())
    nulls_from_command_line(config, schema)
    if error := schema_error(config, schema):
        raise error
    return fill_defaults(config, schema)


def _nullable(schema: dict[str, Any]) -> bool:
    kinds = schema.get("type", [])
    return "null" in (kinds if isinstance(kinds, list) else [kinds]) or None in schema.get(
        "enum", ()
    )


def nulls_from_command_line(
    config: dict[str, Any], schema: dict[str, Any] | str | Path, where: str = ""
) -> list[str]:
    """Turn "null"/"none"/"None" strings into None wherever the schema allows null.

    Runs before schema validation (an enum with null would otherwise reject the string); returns
    the dotted keys it changed. A key that does not allow null keeps its string and meets the
    schema's own message.
    """
    if not isinstance(schema, dict):
        schema = yaml.safe_load(Path(schema).read_text())
    changed = []
    for key, sub in schema.get("properties", {}).items():
        if key not in config:
            continue
        value = config[key]
        if isinstance(value, str) and value.strip().lower() in NULL_WORDS and _nullable(sub):
            config[key] = None
            changed.append(where + key)
        elif isinstance(value, dict) and sub.get("type") == "object":
            changed += nulls_from_command_line(value, sub, f"{where}{key}.")
    return changed


def schema_error(config: dict[str, Any], schema: dict[str, Any] | str | Path) -> ConfigError | None:
    """The config's first schema violation as one sentence naming the key, or None.

    Snakemake's own validation prints the whole sub-schema (dozens of lines) for a bad value; this
    runs first, on the same schema, so a user reads one line.
    """
    import jsonschema

    if not isinstance(schema, dict):
        schema = yaml.safe_load(Path(schema).read_text())
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(config), key=lambda e: list(e.path)
    )
    if not errors:
        return None
    error = errors[0]
    key = ".".join(str(p) for p in error.absolute_path) or "(top level)"
    return ConfigError(key, f"{error.message}; see workflow/schemas/config.schema.yaml.")
