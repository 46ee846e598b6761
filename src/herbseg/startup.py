"""Checks of a run's config and inputs that must pass before any job is scheduled.

Mistakes in the config or the inputs are cheaper to report at start, in one sentence naming the
key, than as a traceback from a job an hour into a run. The Snakefile calls :func:`exit_on_error`
(:func:`check_config`, printed as one line) right after schema validation; nothing is written
before every check has passed. Each check is a function ``(config) -> None`` that raises
:class:`ConfigError`; stages add theirs to ``CHECKS``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
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


Check = Callable[[dict[str, Any]], None]

CHECKS: list[Check] = []


def check_config(config: dict[str, Any], *, local_exec: bool = True) -> None:
    """Run every start-up check in order; the first failure is raised as a ConfigError.

    ``local_exec`` is whether jobs will run on this machine (not a dry run, not a cluster
    executor; the Snakefile tells): only then can a missing GPU be known here.
    """
    from herbseg import input_checks  # registers the input checks in CHECKS on import

    for check in CHECKS:
        check(config)
    input_checks.check_devices(config, local=local_exec)


def exit_on_error(config: dict[str, Any], *, local_exec: bool = True) -> None:
    """:func:`check_config` for the Snakefile: a failure is one line on stderr and exit status 1,
    not a Snakemake traceback into this module."""
    try:
        check_config(config, local_exec=local_exec)
    except ConfigError as exc:
        sys.stderr.write(f"herbseg: {exc}\n")
        raise SystemExit(1) from None


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


def prepare_config(config: dict[str, Any], schema: str | Path) -> None:
    """Before Snakemake's validation: read null words as null, then stop with one line on the
    first schema violation (exit status 1)."""
    schema_dict = yaml.safe_load(Path(schema).read_text())
    nulls_from_command_line(config, schema_dict)
    if error := schema_error(config, schema_dict):
        sys.stderr.write(f"herbseg: {error}\n")
        raise SystemExit(1)


def _register_stage_checks() -> None:
    """Stage checks live beside their stage; imported here so the Snakefile needs one import."""
    # Inputs first (sheets, annotations, results folder: the most basic mistakes), then the
    # model (encoder, ImageNet weights, model.path), then the stages that build on it.
    from herbseg import input_checks  # noqa: F401  (registers its checks in CHECKS)
    from herbseg.classify_config import check_classify
    from herbseg.model_checks import MODEL_CHECKS

    CHECKS.extend(MODEL_CHECKS)
    CHECKS.append(check_classify)


_register_stage_checks()
