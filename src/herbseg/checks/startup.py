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

from herbseg.config.schema import ConfigError, nulls_from_command_line, schema_error

Check = Callable[[dict[str, Any]], None]

CHECKS: list[Check] = []


def check_config(config: dict[str, Any], *, local_exec: bool = True) -> None:
    """Run every start-up check in order; the first failure is raised as a ConfigError.

    ``local_exec`` is whether jobs will run on this machine (not a dry run, not a cluster
    executor; the Snakefile tells): only then can a missing GPU be known here.
    """
    from herbseg.checks import (
        inputs as input_checks,  # registers the input checks in CHECKS on import
    )

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
    from herbseg.checks import inputs as input_checks  # noqa: F401  (registers its checks in CHECKS)
    from herbseg.checks.classify import check_classify
    from herbseg.checks.model import MODEL_CHECKS

    CHECKS.extend(MODEL_CHECKS)
    CHECKS.append(check_classify)


_register_stage_checks()
