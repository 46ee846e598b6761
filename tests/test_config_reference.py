"""config/README.md's key table is the schema's: a changed default cannot leave the docs behind."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from herbseg.config.reference import END, START, leaf_keys, render_table, with_table
from herbseg.config.schema import schema_path

README = Path(__file__).resolve().parents[1] / "config" / "README.md"


def test_readme_table_is_the_schema_rendered():
    table = render_table(yaml.safe_load(schema_path().read_text()))
    text = README.read_text()
    assert with_table(text, table) == text, (
        "config/README.md is stale: python -m herbseg.config.reference --write config/README.md"
    )


def test_every_key_has_a_meaning():
    schema = yaml.safe_load(schema_path().read_text())
    assert [key for key, _, meaning in leaf_keys(schema) if not meaning] == []


def test_a_changed_default_shows_as_stale():
    schema = yaml.safe_load(schema_path().read_text())
    schema["properties"]["results"]["default"] = "elsewhere"
    assert "| `results` | `elsewhere` |" in render_table(schema)
    assert with_table(README.read_text(), render_table(schema)) != README.read_text()


def test_markers_are_required():
    with pytest.raises(ValueError, match="markers"):
        with_table("no table here", "| a |")
    assert with_table(f"x\n{START}\nold\n{END}\ny", "new") == f"x\n{START}\nnew\n{END}\ny"
