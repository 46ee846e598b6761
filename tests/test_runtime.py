"""The CPU runtime of predict: OpenVINO compilation, the bf16 choice and its agreement check."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from herbseg.model.infer import predict_proba
from herbseg.model.network import build_model
from herbseg.model.runtime import (
    OpenVinoNet,
    choose_precision,
    cpu_flags,
    cpu_network,
    has_bf16,
    has_int8,
    mask_iou,
    resolve,
)
from tests.helpers import ENCODER

NO_BF16 = frozenset({"avx2", "fma"})
BF16 = frozenset({"avx512f", "avx512_bf16"})


def frames(n: int = 2, h: int = 64, w: int = 96, seed: int = 0) -> np.ndarray:
    """Frames with a dark blob on light paper, so a random network's output has structure."""
    rng = np.random.default_rng(seed)
    out = rng.integers(180, 255, (n, h, w, 3), dtype=np.uint8)
    out[:, h // 4 : 3 * h // 4, w // 3 : 2 * w // 3] //= 3
    return out


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(ENCODER, None).eval()


def test_resolve_follows_the_cpu_and_the_settings():
    assert resolve("auto", "fp32", BF16) == resolve("auto", "fp32", NO_BF16)  # fp32 unless asked
    assert resolve("auto", "bf16", BF16).precision == "bf16"
    assert resolve("auto", "bf16", BF16).runtime == "openvino"
    no = resolve("auto", "bf16", NO_BF16)
    assert no.precision == "fp32" and "no bf16 instructions" in no.reason
    torch_only = resolve("torch", "bf16", BF16)
    assert (torch_only.runtime, torch_only.precision) == ("torch", "fp32")
    assert "openvino only" in torch_only.reason
    assert resolve("openvino", "fp32", BF16).precision == "fp32"
    assert resolve("openvino", "int8", frozenset({"avx512_vnni"})).precision == "int8"
    assert resolve("openvino", "int8", NO_BF16).precision == "fp32"
    with pytest.raises(ValueError, match="predict.cpu_runtime"):
        resolve("onnx", "fp32", BF16)


def test_cpu_flags_are_read_not_assumed():
    flags = cpu_flags()
    assert has_bf16(flags) == bool({"avx512_bf16", "amx_bf16"} & flags)
    assert not has_bf16(NO_BF16) and has_bf16(BF16)


def test_openvino_fp32_gives_torchs_probabilities(model):
    """Same probabilities as torch within float noise, on odd sizes (padding) and with TTA."""
    net = OpenVinoNet(model, "fp32", threads=1)
    x = frames(h=50, w=70)
    for tta in (False, True):
        want = predict_proba(model, x, "cpu", channels_last=False, tta=tta)
        got = predict_proba(net, x, "cpu", tta=tta)
        assert got.shape == want.shape == (2, 50, 70)
        assert np.abs(got - want).max() < 1e-3
    bigger = frames(1, 64, 128)  # a second frame size compiles a second time, same answer
    assert (
        np.abs(predict_proba(net, bigger, "cpu") - predict_proba(model, bigger, "cpu")).max() < 1e-3
    )


def test_bf16_is_kept_only_when_its_masks_agree(model):
    x = frames()

    def forward(net, f):
        return predict_proba(net, f, "cpu")

    bf16 = OpenVinoNet(model, "bf16", threads=1)
    made = []

    def exact():
        made.append(OpenVinoNet(model, "fp32", threads=1))
        return made[-1]

    kept, iou = choose_precision(bf16, exact, x, threshold=0.5, min_agreement=0.0, predict=forward)
    assert kept is bf16 and 0.0 <= iou <= 1.0
    fell, iou2 = choose_precision(
        bf16, exact, x, threshold=0.5, min_agreement=1.01, predict=forward
    )
    assert fell is made[-1] and fell.precision == "fp32" and iou2 == pytest.approx(iou)


def test_mask_iou():
    a = np.zeros((2, 4, 4), bool)
    assert mask_iou(a, a) == 1.0
    b = a.copy()
    a[0, :2] = True
    b[0, :1] = True
    assert mask_iou(a, b) == pytest.approx(0.5)


def test_int8_is_calibrated_on_the_jobs_frames_and_checked(model):
    """cpu_network with int8: NNCF quantizes on the sample frames, the check keeps or drops it."""
    x = frames(4)
    logs: list[str] = []

    def forward(net, f):
        return predict_proba(net, f, "cpu")

    common = dict(runtime="openvino", precision="int8", threads=1, sample=lambda: x,
                  threshold=0.5, predict=forward, log=logs.append)  # fmt: skip
    if not has_int8():
        assert cpu_network(model, min_agreement=0.0, **common).precision == "fp32"
        return
    kept = cpu_network(model, min_agreement=1e-9, **common)
    assert kept.precision == "int8" and "int8 kept" in logs[-1]
    unchecked = cpu_network(model, min_agreement=0.0, **common)
    assert unchecked.precision == "int8" and "not checked" in logs[-1]
    probs = predict_proba(kept, x, "cpu")
    assert probs.shape == (4, 64, 96) and np.isfinite(probs).all()
    assert mask_iou(probs >= 0.5, forward(model, x) >= 0.5) > 0.5  # quantized, not broken
    dropped = cpu_network(model, min_agreement=1.01, **common)
    assert dropped.precision == "fp32" and "not kept: fp32 instead" in logs[-1]
    with pytest.raises(ValueError, match="calibration"):
        OpenVinoNet(model, "int8", threads=1)


def test_converted_model_is_cached_by_its_key_and_shared(model, tmp_path, monkeypatch):
    """The second job of a model reads the first one's conversion instead of tracing again; a
    damaged entry is converted again; another key is another entry."""
    import openvino as ov

    from herbseg.model import runtime

    monkeypatch.setenv("HERBSEG_CACHE_DIR", str(tmp_path / "herbseg"))
    x = torch.from_numpy(frames(1).transpose(0, 3, 1, 2).astype(np.float32) / 255)
    first = OpenVinoNet(model, "fp32", 1, cache_key="abc")
    xml = runtime.ir_cache_dir() / "abc.xml"
    assert xml.is_file() and xml.with_suffix(".bin").is_file()
    assert xml.is_relative_to(tmp_path / "herbseg" / "openvino")
    assert not [p for p in xml.parent.iterdir() if p.name.startswith(".tmp-")]

    def no_tracing(*args, **kwargs):
        raise AssertionError("converted again although the cache holds the model")

    monkeypatch.setattr(ov, "convert_model", no_tracing)
    cached = OpenVinoNet(model, "fp32", 1, cache_key="abc")
    assert torch.equal(cached(x), first(x))
    with pytest.raises(AssertionError, match="converted again"):
        OpenVinoNet(model, "fp32", 1, cache_key="other")
    monkeypatch.undo()
    monkeypatch.setenv("HERBSEG_CACHE_DIR", str(tmp_path / "herbseg"))
    xml.write_text("<not a model")
    again = OpenVinoNet(model, "fp32", 1, cache_key="abc")
    assert torch.equal(again(x), first(x))
    assert "<not a model" not in xml.read_text()  # rewritten
    OpenVinoNet(model, "fp32", 1)  # no key: nothing cached
    assert sorted(p.name for p in xml.parent.iterdir()) == ["abc.bin", "abc.xml"]


def test_the_cache_keeps_the_most_recently_used_conversions(model, tmp_path, monkeypatch):
    from herbseg.model import runtime

    monkeypatch.setenv("HERBSEG_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(runtime, "IR_CACHE_ENTRIES", 2)
    for key in ("a", "b"):
        OpenVinoNet(model, "fp32", 1, cache_key=key)
    folder = runtime.ir_cache_dir()
    os.utime(folder / "a.xml", (1, 1))  # long unused ...
    os.utime(folder / "b.xml", (2, 2))
    OpenVinoNet(model, "fp32", 1, cache_key="a")  # ... until read again
    OpenVinoNet(model, "fp32", 1, cache_key="c")
    assert sorted(p.name for p in folder.iterdir()) == ["a.bin", "a.xml", "c.bin", "c.xml"]


def test_the_job_log_says_whether_the_conversion_came_from_the_cache(model, tmp_path, monkeypatch):
    monkeypatch.setenv("HERBSEG_CACHE_DIR", str(tmp_path))
    lines: list[str] = []
    for _ in range(2):
        cpu_network(
            model, runtime="openvino", precision="fp32", threads=1, sample=lambda: frames(1),
            threshold=0.5, min_agreement=0.998, predict=lambda net, f: f, log=lines.append,
            cache_key=lambda: "k",
        )  # fmt: skip
    ov_lines = [line for line in lines if line.startswith("OpenVINO model")]
    assert "(fp32) converted in" in ov_lines[0], lines
    assert "(fp32) read from the cache in" in ov_lines[1], lines
