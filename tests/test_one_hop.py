"""Every job is one hop from its rule to its code, and the README's map of them is current.

``workflow/rules/X.smk`` names ``workflow/scripts/Y.py``, which opens its log and calls one
``run`` of a herbseg module; scripts stay a few lines (the logic lives in the library, where it is
tested without Snakemake). The README's "where things live" table is this map, rendered.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RULES = sorted((REPO / "workflow" / "rules").glob("*.smk"))
SCRIPTS = sorted((REPO / "workflow" / "scripts").glob("*.py"))
MAX_SCRIPT_LINES = 25
START, END = "<!-- one-hop: checked by tests/test_one_hop.py -->", "<!-- /one-hop -->"


def scripts_of(rule_file: Path) -> list[str]:
    return re.findall(r'script:\s*"\.\./scripts/([a-z_]+)\.py"', rule_file.read_text())


def target_of(script: Path) -> tuple[str, str]:
    """``(module, function)`` the script calls: its one import from herbseg besides job_log."""
    found = [
        (node.module, alias.name)
        for node in ast.walk(ast.parse(script.read_text()))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("herbseg")
        for alias in node.names
        if alias.name != "job_log"
    ]
    assert len(found) == 1, f"{script.name}: imports {found}, expected one run function"
    return found[0]


def one_hop_table() -> str:
    rows = ["| rule file | script → library |", "|---|---|"]
    for rule_file in RULES:
        names = scripts_of(rule_file)
        if names:
            hops = "; ".join(
                f"`{n}.py` → `{'.'.join(target_of(REPO / 'workflow/scripts' / f'{n}.py'))}`"
                for n in names
            )
            rows.append(f"| `{rule_file.name}` | {hops} |")
    return "\n".join(rows)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_are_thin_and_call_one_run(script: Path):
    lines = script.read_text().splitlines()
    assert len(lines) <= MAX_SCRIPT_LINES, f"{script.name}: {len(lines)} lines"
    module, function = target_of(script)
    assert function.startswith("run"), f"{script.name} calls {module}.{function}"
    tree = ast.parse(script.read_text())
    first = next(n for n in tree.body if not isinstance(n, ast.Expr | ast.ImportFrom))
    assert isinstance(first, ast.With), f"{script.name}: job_log must come first"


def test_every_script_is_used_by_a_rule():
    used = {n for r in RULES for n in scripts_of(r)}
    assert {s.stem for s in SCRIPTS} == used


def test_a_script_and_its_module_share_a_name():
    """The job's script and the library module are named alike (plots: one module, three rules)."""
    for script in SCRIPTS:
        module, function = target_of(script)
        stem = module.rsplit(".", 1)[-1]
        assert stem == script.stem or function == f"run_{script.stem.removeprefix('plot_')}", (
            f"{script.name} → {module}.{function}"
        )


def test_readme_map_is_current():
    readme = (REPO / "README.md").read_text()
    assert START in readme and END in readme
    current = readme.split(START, 1)[1].split(END, 1)[0].strip()
    assert current == one_hop_table(), (
        "README's one-hop table is stale; expected:\n" + one_hop_table()
    )
