"""One factory for every stage's settings object: a dataclass built from its config section.

Why one: each settings class used to carry its own ``from_dict`` with its own unknown-key check
and its own fallback defaults, so a default could drift from the schema's and a typo in one
section was caught while the same typo in another was silently ignored. Here the check is written
once: a key the dataclass does not know is a :class:`~herbseg.config.schema.ConfigError` naming
the dotted key (with the nearest known key as a hint), a list becomes a tuple where the field is a
tuple, and a nested settings dataclass is built from its sub-section the same way.

The schema (``workflow/schemas/config.schema.yaml``) is the one source of defaults: it fills
every key before a job runs, so a dataclass default only serves direct calls from code and tests,
and ``tests/test_settings.py`` proves it equals the schema's.

Field metadata, read by the factory's callers and by that test:

* ``{"config": "model.mask_class"}``: the field is set from another section (the caller passes it
  as a keyword), so the section itself may not name it;
* ``{"resolved": True}`` (with ``config``): the key's value after its caller resolved it (e.g.
  ``auto`` to a number), so the field's default is not the schema's;
* ``{"fixed": True}``: a constant of the method, not a config key.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from herbseg.config.schema import ConfigError

T = TypeVar("T")


def _dataclass_in(hint: Any) -> type | None:
    """The settings dataclass a type hint names (``X`` or ``X | None``), else None."""
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        found = [a for a in typing.get_args(hint) if dataclasses.is_dataclass(a)]
        return found[0] if len(found) == 1 else None
    return None


def _is_tuple(hint: Any) -> bool:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_is_tuple(a) for a in typing.get_args(hint))
    return hint is tuple or typing.get_origin(hint) is tuple


def section_keys(cls: type) -> list[str]:
    """The keys of a settings class's own config section (fields set elsewhere left out)."""
    return [
        f.name
        for f in dataclasses.fields(cls)
        if f.init and "config" not in f.metadata and not f.metadata.get("fixed")
    ]


def settings_from(
    cls: type[T], values: Mapping[str, Any] | None, section: str, **outside: Any
) -> T:
    """``cls`` built from the config section ``section`` (dotted, for messages), plus ``outside``:
    fields whose values come from other sections (see the module docstring).

    Keys the section does not hold take the dataclass default. An unknown key is an error rather
    than ignored, so a typo cannot switch a step off unnoticed.
    """
    values = dict(values or {})
    known = section_keys(cls)
    for key in values:
        if key not in known:
            near = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            raise ConfigError(
                f"{section}.{key}", f"unknown setting (known: {', '.join(known)}){hint}"
            )
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in values.items():
        hint = hints.get(key)
        sub = _dataclass_in(hint)
        if sub is not None and isinstance(value, Mapping):
            value = settings_from(sub, value, f"{section}.{key}")
        elif _is_tuple(hint) and isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs, **outside)
