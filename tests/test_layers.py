"""The package's layer rule, checked on every import statement: lower layers never import higher.

``io`` and ``config`` are the floor; ``measurement`` and ``synth`` build on them; ``model`` on
those; ``stages`` (one module per workflow rule) on everything below; ``reporting`` reads what
stages write; ``checks`` (start-up checks) may look at any stage; the command line and the
one-off helpers at the top (``cli``, ``plan``, ``quick``) may import anything. Nothing in the
package imports snakemake.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "herbseg"

RANK = {
    "io": 0,
    "config": 0,
    "measurement": 1,
    "synth": 2,
    "model": 3,
    "stages": 4,
    "reporting": 5,
    "checks": 6,
}
TOP = 7  # modules directly in herbseg/ (cli, plan, quick)


def layer_of(module: str) -> str | None:
    """``herbseg.stages.ingest`` -> ``stages``; a top-level module -> None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in RANK else None


def rank_of(module: str) -> int:
    layer = layer_of(module)
    return RANK[layer] if layer else TOP


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every herbseg (and snakemake) module a file imports, late imports included."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "herbseg":
                # herbseg/__init__.py (the version) is the floor; a module named there is its module
                out += [(node.lineno, f"herbseg.{a.name}") for a in node.names if a.name[0] != "_"]
            elif node.module.startswith(("herbseg", "snakemake")):
                base = node.module
                subs = [f"{base}.{a.name}" for a in node.names]
                # "from herbseg.io import files" names a module; "from herbseg.io.files import x" no
                out += [
                    (node.lineno, s if layer_of(s) and s.count(".") == 2 else base) for s in subs
                ]
        elif isinstance(node, ast.Import):
            out += [
                (node.lineno, a.name)
                for a in node.names
                if a.name.startswith(("herbseg", "snakemake"))
            ]
    return out


def package_modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_every_module_sits_in_a_known_layer():
    for path in package_modules():
        rel = path.relative_to(PACKAGE)
        if len(rel.parts) > 1:
            assert rel.parts[0] in RANK, f"{rel}: {rel.parts[0]}/ is not a layer in RANK"


@pytest.mark.parametrize("path", package_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_higher_layer(path: Path):
    me = "herbseg." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
    for line, target in imports_of(path):
        assert not target.startswith("snakemake"), f"{me}:{line} imports {target}"
        if target == "herbseg":
            continue
        assert rank_of(target) <= rank_of(me), (
            f"{me}:{line} imports {target}: layer {layer_of(target) or 'top'} is above "
            f"{layer_of(me) or 'top'} (see tests/test_layers.py)"
        )


def test_the_rule_catches_an_upward_import(tmp_path: Path):
    """The check itself can fail: io importing a stage is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("from herbseg.stages.ingest import discover_sheets\nimport snakemake\n")
    targets = [t for _, t in imports_of(bad)]
    assert targets == ["herbseg.stages.ingest", "snakemake"]
    assert rank_of("herbseg.stages.ingest") > rank_of("herbseg.io.files")
