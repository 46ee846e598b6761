"""Model-related start-up checks: encoder names, ImageNet weights, saved models, annotations."""

from __future__ import annotations

import copy
import subprocess
import sys
import time
from pathlib import Path

import pytest
import segmentation_models_pytorch as smp
import torch
import yaml
from safetensors.torch import save_file
from snakemake.utils import validate

from herbseg.checks.startup import check_config
from herbseg.config.schema import ConfigError
from herbseg.model.card import adopt_card, export_model, read_model_folder, weights_sha256
from herbseg.model.network import build_model, save_model
from tests.helpers import write_mask_file, write_sheet

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def config(tmp_path: Path, **sections) -> dict:
    """A valid config over one real sheet and its mask, so only the model settings can fail."""
    if not (tmp_path / "sheets").exists():
        write_sheet(tmp_path / "sheets" / "s1.jpg")
        write_mask_file(tmp_path / "masks" / "s1.png")
    cfg = {"sheets": str(tmp_path / "sheets"), "annotations": str(tmp_path / "masks")}
    for key, value in sections.items():
        if isinstance(value, dict):
            cfg[key] = copy.deepcopy(value)
        else:
            cfg[key] = value
    validate(cfg, str(SCHEMA), set_default=True)
    return cfg


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """An empty Hugging Face cache and HF_HUB_OFFLINE: nothing can be found or fetched."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_unknown_encoder_is_rejected_with_the_closest_names(tmp_path):
    with pytest.raises(ConfigError) as err:
        check_config(config(tmp_path, model={"encoder": "resnet10l", "encoder_weights": None}))
    assert err.value.key == "model.encoder"
    assert "resnet101" in str(err.value) and "resnet10l" in str(err.value)


def test_missing_weights_offline_keep_todays_message(tmp_path, offline_hub):
    with pytest.raises(ConfigError) as err:
        check_config(config(tmp_path, model={"encoder": "resnet18"}))
    msg = str(err.value)
    assert err.value.key == "model.encoder_weights"
    assert "were not found offline" in msg and "encoder_weights_file" in msg
    assert not (tmp_path / "hf").exists()  # nothing written


def test_model_offline_key_never_tries_the_network(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def boom(*a, **k):
        raise AssertionError("network access attempted")

    import socket

    monkeypatch.setattr(socket, "create_connection", boom)
    with pytest.raises(ConfigError, match="were not found offline"):
        check_config(config(tmp_path, model={"encoder": "resnet18", "offline": True}))


def test_packaged_lite_weights_pass_offline(tmp_path, offline_hub):
    check_config(config(tmp_path, model={"encoder": "timm-tf_efficientnet_lite0"}))


def test_weights_file_that_does_not_fit_names_file_encoder_and_key(tmp_path):
    torch.manual_seed(0)
    state = smp.encoders.get_encoder("resnet18", weights=None).state_dict()
    state["layer1.0.conv1.weight"] = torch.zeros(3, 3, 3, 3)
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    model = {"encoder": "resnet18", "encoder_weights_file": str(path)}
    with pytest.raises(ConfigError) as err:
        check_config(config(tmp_path, model=model))
    msg = str(err.value)
    assert err.value.key == "model.encoder_weights_file"
    assert str(path) in msg and "'resnet18'" in msg and "layer1.0.conv1.weight" in msg


def test_no_annotations_and_no_model_says_what_to_provide(tmp_path):
    cfg = config(tmp_path, model={"encoder": "resnet18", "encoder_weights": None})
    cfg["annotations"] = None
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    assert err.value.key == "annotations"
    assert "model.path" in str(err.value)


def test_train_size_above_the_frame_is_refused_naming_the_key(tmp_path):
    model = {"encoder": "resnet18", "encoder_weights": None}
    check_config(config(tmp_path, model=model, resize={"size": 384}, train={"size": 256}))
    with pytest.raises(ConfigError) as err:
        check_config(config(tmp_path, model=model, resize={"size": 256}, train={"size": 384}))
    assert err.value.key == "train.size"
    assert "384" in str(err.value) and "resize.size (256)" in str(err.value)


def saved_model(tmp_path: Path, **settings) -> Path:
    """A trained-looking model folder exported with a complete card."""
    trained = tmp_path / "train" / "model"
    save_model(build_model("resnet18", None), trained, {"encoder": "resnet18"})
    out = tmp_path / "exported"
    card = {"frame_size": 256, "resize_mode": "squash", "threshold": 0.5, "mask_class": "leaf"}
    export_model(trained, out, evaluated_card={"test_metrics": {"iou": 0.9}}, settings=card)
    return out


def test_exported_model_card_has_what_predict_needs(tmp_path):
    folder = saved_model(tmp_path)
    card = read_model_folder(folder)
    for field in ("encoder", "frame_size", "resize_mode", "normalisation", "threshold"):
        assert field in card, field
    assert card["mask_class"] == "leaf" and card["test_metrics"]["iou"] == 0.9
    assert card["weights_sha256"] == weights_sha256(folder)


def test_model_path_missing_or_not_a_model(tmp_path):
    cfg = config(tmp_path, model={"path": str(tmp_path / "nope")})
    with pytest.raises(ConfigError, match="does not exist") as err:
        check_config(cfg)
    assert err.value.key == "model.path"
    (tmp_path / "notamodel").mkdir()
    cfg = config(tmp_path, model={"path": str(tmp_path / "notamodel")})
    with pytest.raises(ConfigError, match="not a saved herbseg model"):
        check_config(cfg)


def test_model_path_makes_annotations_optional_and_adopts_the_card(tmp_path):
    folder = saved_model(tmp_path)
    cfg = config(tmp_path, model={"path": str(folder)})
    cfg["annotations"] = None
    check_config(cfg)  # encoder and weights come from the saved model
    assert cfg["resize"]["size"] == 256  # the schema default 512 gave way to the card
    assert cfg["model"]["encoder"] == "resnet18"  # and so did the default resnet101


def test_config_contradicting_the_card_is_refused_naming_both(tmp_path):
    folder = saved_model(tmp_path)
    cfg = config(tmp_path, model={"path": str(folder)}, resize={"size": 384})
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    assert err.value.key == "resize.size"
    assert "384" in str(err.value) and "256" in str(err.value)
    assert adopt_card({"resize_mode": "letterbox"}, cfg) == []  # default squash: adopted


@pytest.mark.workflow
def test_missing_weight_fails_fast_on_a_large_folder_before_anything_is_written(tmp_path):
    """The floor's shape, at test size: a dry run over 2,000 sheet files stops at start-up."""
    sheets = tmp_path / "sheets"
    sheets.mkdir()
    for i in range(2000):
        (sheets / f"s{i:05d}.jpg").write_bytes(b"\xff\xd8\xff")
    write_mask_file(tmp_path / "masks" / "s00000.png")  # annotations that match: only weights fail
    cfg = {
        "sheets": str(sheets),
        "annotations": str(tmp_path / "masks"),
        "results": str(tmp_path / "results"),
        "model": {"encoder": "resnet18", "offline": True},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    env_home = tmp_path / "hf"
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1"]
        + ["--configfile", str(tmp_path / "c.yaml"), "--directory", str(REPO)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**_env(), "HF_HOME": str(env_home)},
        timeout=300,
    )
    elapsed = time.monotonic() - start
    assert proc.returncode != 0
    assert "model.encoder_weights" in proc.stderr + proc.stdout
    assert not (tmp_path / "results").exists()
    print(f"failed after {elapsed:.1f} s")


def _env() -> dict:
    import os

    return {**os.environ, "PYTHONPATH": str(REPO / "src")}


def test_weights_in_the_hub_cache_pass_offline_and_are_checked_from_the_header(
    tmp_path, offline_hub
):
    from tests.helpers import fill_hub_cache, random_encoder_state

    state = random_encoder_state()
    fill_hub_cache(tmp_path / "hf", state)
    check_config(config(tmp_path, model={"encoder": "resnet18"}))
    bad = dict(state)
    bad.pop("layer4.1.bn2.bias")
    snapshot = next((tmp_path / "hf" / "hub").glob("models--*/snapshots/*"))
    save_file(bad, str(snapshot / "model.safetensors"))
    with pytest.raises(ConfigError, match="layer4.1.bn2.bias") as err:
        check_config(config(tmp_path, model={"encoder": "resnet18"}))
    assert str(snapshot / "model.safetensors") in str(err.value)


def test_encoder_names_are_cached_per_smp_version(tmp_path, monkeypatch):
    """The name check reads smp's encoder list from a cache, so a start does not import smp."""
    import sys

    from herbseg.checks import model as checks

    monkeypatch.delenv("HERBSEG_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    names = checks.encoder_names()  # fills the cache
    assert "resnet101" in names and "timm-tf_efficientnet_lite0" in names
    (cached,) = (tmp_path / "herbseg").glob("smp-encoders-*.json")
    monkeypatch.setitem(sys.modules, "segmentation_models_pytorch", None)  # importing it fails
    assert checks.encoder_names() == names
    cached.write_text("not json")  # a broken cache is recomputed, not an error
    monkeypatch.delitem(sys.modules, "segmentation_models_pytorch")
    assert checks.encoder_names() == names
