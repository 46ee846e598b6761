"""Model construction, offline weights, save/load, preprocessing and inference."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from herbseg.model import network as hm
from herbseg.model.card import read_card, update_card
from herbseg.model.infer import predict_proba
from herbseg.model.network import (
    WeightsNotFound,
    build_model,
    load_model,
    preprocess,
    resolve_device,
    save_model,
)
from herbseg.model.normalisation import IMAGENET_MEAN, IMAGENET_STD
from tests.helpers import ENCODER, fill_hub_cache, random_encoder_state

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def no_network(monkeypatch):
    """Make every route to the Hub (and any socket) fail loudly."""

    def boom(*args, **kwargs):
        raise AssertionError("network access attempted")

    import huggingface_hub
    import huggingface_hub.file_download as fd
    import segmentation_models_pytorch.base.hub_mixin as hub_mixin
    import segmentation_models_pytorch.encoders as smp_encoders

    for mod in (huggingface_hub, fd, hub_mixin, smp_encoders):
        if hasattr(mod, "hf_hub_download"):
            monkeypatch.setattr(mod, "hf_hub_download", boom)
    monkeypatch.setattr(fd, "snapshot_download", boom, raising=False)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", boom, raising=False)
    monkeypatch.setattr(socket.socket, "connect", boom)
    monkeypatch.setattr(socket, "create_connection", boom)


@pytest.fixture
def hf_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "hf"
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(home))
    return home


def assert_encoder_equals(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    got = model.encoder.state_dict()
    assert set(got) == set(state)
    for k, v in state.items():
        assert torch.equal(got[k], v), k


def images(n: int = 2, h: int = 64, w: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


# --------------------------------------------------------------------------- preprocessing


def test_preprocess_shape_dtype_and_normalisation():
    batch = np.zeros((2, 4, 5, 3), np.uint8)
    batch[1] = 255
    x = preprocess(batch)
    assert x.shape == (2, 3, 4, 5) and x.dtype == torch.float32
    for c in range(3):
        assert x[0, c].unique().item() == pytest.approx(-IMAGENET_MEAN[c] / IMAGENET_STD[c])
        assert x[1, c].unique().item() == pytest.approx((1 - IMAGENET_MEAN[c]) / IMAGENET_STD[c])


def test_preprocess_keeps_channels_apart():
    batch = np.zeros((1, 2, 2, 3), np.uint8)
    batch[..., 1] = 255  # pure green
    x = preprocess(batch)
    assert x[0, 1, 0, 0] > 2 and x[0, 0, 0, 0] < 0 and x[0, 2, 0, 0] < 0


def test_preprocess_rejects_wrong_input():
    with pytest.raises(ValueError):
        preprocess(np.zeros((4, 5, 3), np.uint8))
    with pytest.raises(ValueError):
        preprocess(np.zeros((1, 4, 5, 3), np.float32))


def test_resolve_device(monkeypatch):
    assert resolve_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(RuntimeError, match="CUDA"):
        resolve_device("cuda")
    with pytest.raises(ValueError):
        resolve_device("tpu")


# --------------------------------------------------------------------------- save / load


def test_save_load_roundtrip_identical_outputs(tmp_path, no_network):
    torch.manual_seed(0)
    model = build_model(ENCODER, None).eval()
    x = preprocess(images())
    with torch.inference_mode():
        expected = model(x)
    save_model(model, tmp_path / "m", {"note": "roundtrip"})
    assert {p.name for p in (tmp_path / "m").iterdir()} >= {
        "config.json",
        "model.safetensors",
        "model_card.json",
    }
    loaded = load_model(tmp_path / "m")
    assert not loaded.training
    with torch.inference_mode():
        assert torch.equal(loaded(x), expected)
    assert read_card(tmp_path / "m") == {"note": "roundtrip"}
    update_card(tmp_path / "m", test_iou=0.93)
    assert read_card(tmp_path / "m") == {"note": "roundtrip", "test_iou": 0.93}


def test_load_model_never_downloads_even_if_config_says_imagenet(tmp_path, no_network):
    """smp #957: a config recording ``encoder_weights: imagenet`` must not trigger a download."""
    save_model(build_model(ENCODER, None), tmp_path / "m", {})
    cfg_path = tmp_path / "m" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["encoder_weights"] = "imagenet"
    cfg_path.write_text(json.dumps(cfg))
    load_model(tmp_path / "m")


def test_save_model_replaces_and_handles_channels_last(tmp_path):
    model = build_model(ENCODER, None).to(memory_format=torch.channels_last)
    save_model(model, tmp_path / "m", {"v": 1})
    save_model(model, tmp_path / "m", {"v": 2})
    assert read_card(tmp_path / "m") == {"v": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temp folders left behind
    assert torch.equal(
        load_model(tmp_path / "m").encoder.conv1.weight, model.encoder.conv1.weight.contiguous()
    )


# --------------------------------------------------------------------------- offline weights


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_weights_file(tmp_path, hf_home, no_network, suffix):
    state = random_encoder_state()
    path = tmp_path / f"encoder{suffix}"
    if suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    assert_encoder_equals(build_model(ENCODER, "imagenet", weights_file=str(path)), state)


def test_weights_file_from_a_saved_model_folder(tmp_path, no_network):
    source = build_model(ENCODER, None)
    save_model(source, tmp_path / "m", {})
    model = build_model(ENCODER, "imagenet", weights_file=str(tmp_path / "m"))
    assert_encoder_equals(model, source.encoder.state_dict())


def test_weights_file_that_does_not_fit_is_an_error(tmp_path, no_network):
    state = random_encoder_state()
    state.pop("conv1.weight")
    save_file(state, str(tmp_path / "bad.safetensors"))
    with pytest.raises(ValueError, match="do not fit"):
        build_model(ENCODER, "imagenet", weights_file=str(tmp_path / "bad.safetensors"))


def test_weights_from_hub_cache(hf_home, no_network):
    state = random_encoder_state()
    fill_hub_cache(hf_home, state)
    assert_encoder_equals(build_model(ENCODER, "imagenet"), state)


def test_hub_cache_layout_is_what_smp_itself_reads(hf_home):
    """Guards the fixture: smp's own loader, offline, must find the weights in that layout."""
    state = random_encoder_state()
    fill_hub_cache(hf_home, state)
    code = (
        "import segmentation_models_pytorch as smp, torch, safetensors.torch as st, sys\n"
        f"e = smp.encoders.get_encoder({ENCODER!r}, weights='imagenet')\n"
        f"ref = st.load_file(sys.argv[1])\n"
        "assert all(torch.equal(e.state_dict()[k], v) for k, v in ref.items())\n"
    )
    snapshot = next((hf_home / "hub").glob("models--*/snapshots/*"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(hf_home)}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(snapshot / "model.safetensors")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_missing_weights_raise_with_instructions(hf_home, no_network):
    with pytest.raises(WeightsNotFound) as err:
        build_model(ENCODER, "imagenet")
    msg = str(err.value)
    assert "encoder_weights_file" in msg
    assert "encoder_weights: null" in msg
    assert str(hf_home / "hub" / "models--smp-hub--resnet18.imagenet" / "snapshots") in msg
    assert isinstance(err.value, RuntimeError)


def test_missing_weights_file_raises(tmp_path, no_network):
    with pytest.raises(WeightsNotFound, match="encoder_weights_file"):
        build_model(ENCODER, "imagenet", weights_file=str(tmp_path / "nope.pth"))


def test_hub_cache_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    assert hm.hub_cache_dir() == tmp_path / "home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    assert hm.hub_cache_dir() == tmp_path / "cache"


# --------------------------------------------------------------------------- inference


def test_predict_proba_shape_range_and_memory_formats():
    torch.manual_seed(0)
    model = build_model(ENCODER, None)
    imgs = images(3)
    p = predict_proba(model, imgs, "cpu", channels_last=False)
    assert p.shape == (3, 64, 64) and p.dtype == np.float32
    assert np.all((p >= 0) & (p <= 1))
    q = predict_proba(model, imgs, "cpu", channels_last=True, batch_size=2)
    np.testing.assert_allclose(p, q, atol=1e-4)


def test_predict_proba_pads_odd_sizes():
    model = build_model(ENCODER, None)
    p = predict_proba(model, images(1, 50, 70), "cpu")
    assert p.shape == (1, 50, 70)
    assert predict_proba(model, images(0), "cpu").shape == (0, 64, 64)


# --------------------------------------------------------------------------- flip TTA


def test_tta_is_the_mean_of_the_flipped_views():
    """``tta`` averages the four flips, each flipped back; odd frame sizes (padded inside) too."""
    torch.manual_seed(0)
    model = build_model(ENCODER, None).eval()
    frames = np.random.default_rng(3).integers(0, 255, (2, 70, 90, 3), dtype=np.uint8)
    views = [
        predict_proba(model, np.ascontiguousarray(v), "cpu")
        for v in (frames, frames[:, :, ::-1], frames[:, ::-1], frames[:, ::-1, ::-1])
    ]
    expected = (views[0] + views[1][:, :, ::-1] + views[2][:, ::-1] + views[3][:, ::-1, ::-1]) / 4
    got = predict_proba(model, frames, "cpu", tta=True)
    assert got.shape == (2, 70, 90)
    assert np.allclose(got, expected, atol=1e-5)
    assert not np.allclose(got, views[0], atol=1e-3)  # the views do differ
