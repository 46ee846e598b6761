"""The config reference table of ``config/README.md``, rendered from the schema.

The schema is the one place defaults and meanings are written; the README's table is generated
from it (``python -m herbseg.config.reference --write config/README.md``) and a test fails when
the two drift apart, so a changed default cannot leave the documentation behind.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from herbseg.config.schema import schema_path

START = "<!-- config-reference: generated from workflow/schemas/config.schema.yaml; do not edit -->"
END = "<!-- /config-reference -->"


def leaf_keys(schema: dict[str, Any], prefix: str = "", parent: str = "") -> Iterator[tuple]:
    """``(dotted key, sub-schema, meaning)`` of every settable key, in schema order; a key with
    no description of its own takes its section's."""
    for key, sub in schema.get("properties", {}).items():
        dotted = prefix + key
        if sub.get("type") == "object" and "properties" in sub:
            yield from leaf_keys(sub, dotted + ".", sub.get("description", ""))
        else:
            yield dotted, sub, sub.get("description", parent)


def format_default(sub: dict[str, Any]) -> str:
    """The default as a user would write it in YAML; ``(required)`` where there is none."""
    if "default" not in sub:
        return "(required)"
    text = yaml.safe_dump(sub["default"], default_flow_style=True, width=1000).strip()
    return f"`{text.removesuffix('...').strip()}`"


def render_table(schema: dict[str, Any]) -> str:
    """The markdown table: key, default, meaning (``|`` in a meaning escaped)."""
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for key, sub, meaning in leaf_keys(schema):
        rows.append(f"| `{key}` | {format_default(sub)} | {meaning.replace('|', chr(92) + '|')} |")
    return "\n".join(rows)


def with_table(readme: str, table: str) -> str:
    """``readme`` with the text between the markers replaced by ``table``."""
    if START not in readme or END not in readme:
        raise ValueError(f"the README has no generated-table markers ({START!r} … {END!r})")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m herbseg.config.reference", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--write", type=Path, help="rewrite the table inside this README")
    args = parser.parse_args(argv)
    table = render_table(yaml.safe_load(schema_path().read_text()))
    if args.write:
        args.write.write_text(with_table(args.write.read_text(), table))
    else:
        sys.stdout.write(table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
