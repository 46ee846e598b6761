"""Checks of a run's config and inputs that must pass before any job is scheduled.

Mistakes in the config or the inputs are cheaper to report at start, in one sentence naming the
key, than as a traceback from a job an hour into a run. The Snakefile calls :func:`check_config`
right after schema validation; nothing is written before every check has passed. Each check is a
function ``(config) -> None`` that raises :class:`ConfigError`; stages add theirs to ``CHECKS``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class ConfigError(ValueError):
    """A config key (dotted, e.g. ``model.encoder``) whose value cannot work, and what to do."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"config key '{key}': {message}")
        self.key = key


Check = Callable[[dict[str, Any]], None]

CHECKS: list[Check] = []


def check_config(config: dict[str, Any]) -> None:
    """Run every start-up check in order; the first failure is raised as a ConfigError."""
    for check in CHECKS:
        check(config)


# Model-related checks (encoder name, ImageNet weights, a saved model, annotations) live beside
# the model code; imported last because they import ConfigError from here.
from herbseg.model_checks import MODEL_CHECKS  # noqa: E402

CHECKS.extend(MODEL_CHECKS)
