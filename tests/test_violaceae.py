"""The real benchmark's pieces: the Violaceae data through ingest and the baseline (skipped where
``../shared`` is absent), the mask registration, and synthetic pre-training (``init_from``)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from herbseg.io.images import load_rgb, read_mask
from herbseg.model.network import build_model, init_weights_sha256, load_init_weights
from herbseg.stages.baseline import BaselineSettings, segment
from herbseg.stages.ingest import ingest
from herbseg.stages.train import TrainConfig, train
from tests.helpers import REPO, write_mask_file, write_sheet

sys.path.insert(0, str(REPO / "benchmarks"))
from violaceae_register import place, register  # noqa: E402


def test_violaceae_ingest_matches_32_masks_and_reports_the_rest(shared_data, tmp_path):
    data = shared_data / "violaceae"
    manifest, problems, _ = ingest(str(data / "images"), str(data / "masks"), tmp_path,
                                   checksum=False, threads=2, log=lambda m: None)  # fmt: skip
    assert len(manifest) == 345 and (manifest["status"] == "ok").all()
    assert int(manifest["has_mask"].sum()) == 32
    unmatched = problems[problems["status"] == "unmatched"]
    assert [Path(p).name for p in unmatched["path"]] == ["V02_01_146_mask.jpg"]
    # 256×384 masks on 3:4 sheets: reported, and still used
    assert "aspect_mismatch" in set(problems["status"])
    assert manifest.set_index("sheet_id").loc["V01__V01_01_004", "has_mask"]


def test_baseline_and_registration_on_a_real_sheet(shared_data):
    """Otsu needs no training; placing the shipped mask where the plant is must raise its
    overlap with that segmentation a lot (the shipped masks are off their sheets)."""
    data = shared_data / "violaceae"
    rgb = load_rgb(data / "images" / "V01" / "V01_05_025.jpg")
    h, w = rgb.shape[:2]
    proxy = segment(rgb, BaselineSettings(method="otsu"), out_size=(160, round(160 * h / w)))
    assert 0.02 < proxy.mean() < 0.4
    t, before, after = register(read_mask(data / "masks" / "V01_05_025_mask.jpg"), proxy)
    assert after > before + 0.2 and after > 0.6
    assert place(np.ones((4, 2), bool), 6, 8, (1.0, 0.0, 1.0, 0.0)).all()


def tiny_frames(tmp_path: Path, n: int = 4) -> list[tuple[Path, Path]]:
    return [(write_sheet(tmp_path / f"f{i}.png", 32, 32, fmt="PNG", seed=i),
             write_mask_file(tmp_path / f"m{i}.png", 32, 32)) for i in range(n)]  # fmt: skip


def tiny_config(**kw) -> TrainConfig:
    return TrainConfig(encoder="resnet18", encoder_weights=None, epochs=1, batch_size=2,
                       num_workers=0, device="cpu", augment={}, **kw)  # fmt: skip


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> tuple[list[tuple[Path, Path]], Path]:
    """Frames and a model trained on them for one epoch (the "synthetic" model)."""
    tmp = tmp_path_factory.mktemp("pretrained")
    items = tiny_frames(tmp)
    train(items[:2], items[2:], tmp / "pre", tiny_config(), log=lambda m: None)
    return items, tmp / "pre"


def test_init_from_loads_all_weights_or_the_encoder_and_refuses_the_rest(pretrained, tmp_path):
    pre = pretrained[1] / "model"
    saved = build_model("resnet18", None)
    assert load_init_weights(saved, pre) == "full"
    other = build_model("resnet18", None)
    other.segmentation_head[0] = torch.nn.Conv2d(256, 2, 1)  # another head: the encoder only
    assert load_init_weights(other, pre) == "encoder"
    for k, v in other.encoder.state_dict().items():
        assert torch.equal(v, saved.encoder.state_dict()[k])
    with pytest.raises(ValueError, match="fit neither"):
        load_init_weights(build_model("mobilenet_v2", None), pre)
    with pytest.raises(FileNotFoundError, match="init_from"):
        load_init_weights(saved, tmp_path)


def test_a_changed_init_model_restarts_training(pretrained, tmp_path):
    items, pre = pretrained
    lines: list[str] = []
    cfg = tiny_config(init_from=str(pre / "model"))
    train(items[:2], items[2:], tmp_path / "fine", cfg, log=lines.append)
    assert any("initialised from" in line and "(full weights)" in line for line in lines)
    first = init_weights_sha256(pre / "model")
    train(items[:2], items[2:], pre, tiny_config(seed=7), log=lambda m: None)  # another model
    assert init_weights_sha256(pre / "model") != first
    lines.clear()
    train(items[:2], items[2:], tmp_path / "fine", cfg, log=lines.append)
    assert any("init_from_sha256" in line and "starting over" in line for line in lines)
