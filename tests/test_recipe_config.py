"""The recipe's CPU and GPU configs validate against the schema and train (one step, on the CPU,
with the GPU config's encoder, ImageNet weights from the pip package and augmentation)."""

from __future__ import annotations

import argparse
import copy
import sys

import pytest
import yaml
from snakemake.utils import validate

from herbseg.stages.train import train
from tests.helpers import REPO, write_mask_file, write_sheet

sys.path.insert(0, str(REPO / "benchmarks"))
from violaceae import merged_config  # noqa: E402
from violaceae_recipe import train_config  # noqa: E402

RECIPE = [REPO / "config" / "violaceae.yaml", REPO / "config" / "violaceae_recipe.yaml"]
GPU = [*RECIPE, REPO / "config" / "violaceae_recipe_gpu.yaml"]


@pytest.mark.parametrize("files", [RECIPE, GPU], ids=["cpu", "gpu"])
def test_recipe_config_validates_and_trains_one_step(files, tmp_path):
    cfg = merged_config(files)
    validate(copy.deepcopy(cfg), schema=str(REPO / "workflow/schemas/config.schema.yaml"))
    assert cfg["model"]["mask_class"] == "plant" and cfg["model"]["encoder_weights"] == "imagenet"
    args = argparse.Namespace(epochs=1, device="cpu", threads=1)
    tc = train_config(cfg, args)
    tc.batch_size, tc.num_workers = 2, 0  # the GPU config asks for 8 loader workers
    assert tc.augment["table_edges"] > 0 and tc.augment["hue"] > 0
    assert tc.thin_weight > 1 and tc.select == "last"  # the recipe keys reach training
    frames = [(write_sheet(tmp_path / f"f{i}.png", 64, 64, fmt="PNG", seed=i),
               write_mask_file(tmp_path / f"m{i}.png", 64, 64)) for i in range(2)]  # fmt: skip
    result = train(frames, frames[:1], tmp_path / "out", tc, log=lambda m: None)
    assert result["epochs_run"] == 1
    card = yaml.safe_load((tmp_path / "out" / "model" / "config.json").read_text())
    assert card  # the saved model folder is complete


def test_gpu_config_trains_the_cpu_recipe():
    """The GPU model is the CPU command's model, faster: the same network, frames, epochs, loss,
    augmentation and predict settings; only where it runs and how many loader processes feed it
    differ. (Training longer on a GPU left pale flowers out on real sheets: BENCHMARKS.md,
    "The real-sheet model on a GPU".)"""
    cpu, gpu = merged_config(RECIPE), merged_config(GPU)
    runs_where = {"device", "num_workers", "max_minutes"}  # where it runs, not what it learns

    def what(cfg: dict, key: str) -> dict:
        return {k: v for k, v in cfg[key].items() if k not in runs_where}

    for key in ("model", "resize", "train", "predict"):
        assert what(gpu, key) == what(cpu, key), key
    assert gpu["train"]["device"] == gpu["predict"]["device"] == "cuda"
