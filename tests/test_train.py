"""Training: outputs, crash-and-resume, determinism, augmentation, config changes."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from herbseg.config.schema import ConfigError
from herbseg.config.settings import settings_from
from herbseg.io.images import write_mask, write_rgb
from herbseg.model.checkpoint import HISTORY_COLUMNS, read_history
from herbseg.model.data import FrameDataset, build_augmentation
from herbseg.model.fit import Switches, loss_fn_for, thin_weights
from herbseg.model.network import build_model
from herbseg.stages.train import TrainConfig, train

SRC = Path(__file__).resolve().parents[1] / "src"
SIZE = 64


def synthetic_frames(root: Path, n: int, seed: int = 0) -> list[tuple[Path, Path]]:
    """Light noisy paper with dark green elliptic 'leaves', and their 0/255 masks."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    items = []
    for i in range(n):
        img = (225 + rng.integers(0, 20, (SIZE, SIZE, 3))).astype(np.uint8)
        mask = np.zeros((SIZE, SIZE), bool)
        for _ in range(rng.integers(1, 4)):
            cy, cx = rng.integers(8, SIZE - 8, 2)
            ry, rx = rng.integers(4, 14, 2)
            mask |= ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        img[mask] = (40, 90, 30)
        items.append((root / f"sheet{i}.png", root / f"sheet{i}_mask.png"))
        write_rgb(items[-1][0], img)
        write_mask(items[-1][1], mask)
    return items


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> tuple[list, list]:
    items = synthetic_frames(tmp_path_factory.mktemp("frames"), 8)
    return items[:6], items[6:]


def small_config(**overrides) -> TrainConfig:
    base = dict(
        encoder="mobilenet_v2",
        encoder_weights=None,
        epochs=2,
        batch_size=3,
        num_workers=0,
        device="cpu",
        threads=1,
        deterministic=True,
        seed=0,
    )
    return TrainConfig(**{**base, **overrides})


def weights_equal(a: Path, b: Path) -> bool:
    sa, sb = load_file(str(a)), load_file(str(b))
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def without_seconds(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


@pytest.fixture(scope="module")
def reference_run(frames, tmp_path_factory) -> Path:
    """An uninterrupted deterministic 4-epoch run, the yardstick for resume and determinism."""
    out = tmp_path_factory.mktemp("reference")
    train(*frames, out, small_config(epochs=4), log=lambda s: None)
    return out


# --------------------------------------------------------------------------- outputs


def test_train_two_epochs_writes_everything(frames, tmp_path):
    lines: list[str] = []
    result = train(*frames, tmp_path, small_config(), log=lines.append)

    with open(tmp_path / "history.csv") as f:
        assert f.readline().strip() == ",".join(HISTORY_COLUMNS)
    rows = read_history(tmp_path / "history.csv")
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert all(0.0 <= float(r["val_iou"]) <= 1.0 for r in rows)

    model_dir = tmp_path / "model"
    assert {"config.json", "model.safetensors", "model_card.json"} <= {
        p.name for p in model_dir.iterdir()
    }
    card = json.loads((model_dir / "model_card.json").read_text())
    assert card["config"]["encoder"] == "mobilenet_v2"
    assert card["epochs_run"] == 2 and card["best_epoch"] in (1, 2)
    assert set(card["versions"]) >= {
        "torch",
        "segmentation-models-pytorch",
        "albumentations",
        "numpy",
        "herbseg",
    }
    assert len(card["training_data_sha256"]) == 64 and len(card["split_ids_sha256"]) == 64
    assert card["created_utc"].endswith("+00:00")

    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert ckpt["epoch"] == 2 and len(ckpt["history"]) == 2

    assert set(result) == {
        "epochs_run",
        "best_epoch",
        "best_val_iou",
        "device",
        "seconds",
        "images_per_second",
    }
    assert result["epochs_run"] == 2 and result["device"] == "cpu"
    assert result["best_val_iou"] == pytest.approx(float(rows[result["best_epoch"] - 1]["val_iou"]))
    epoch_lines = [s for s in lines if s.startswith("epoch ")]
    assert len(epoch_lines) == 2
    assert epoch_lines[0].startswith("epoch 1/2 train_loss ") and "val_iou" in epoch_lines[0]
    assert "(eta " in epoch_lines[0]

    # A finished run started again does nothing and reports the same result.
    again = train(*frames, tmp_path, small_config(), log=lines.append)
    assert again["epochs_run"] == 2 and again["best_epoch"] == result["best_epoch"]
    assert len(read_history(tmp_path / "history.csv")) == 2


def test_config_change_starts_over(frames, tmp_path):
    train(*frames, tmp_path, small_config(epochs=1), log=lambda s: None)
    lines: list[str] = []
    train(*frames, tmp_path, small_config(epochs=1, lr=3e-4), log=lines.append)
    assert any("different configuration" in s and "lr" in s for s in lines)
    assert not any(s.startswith("resumed") for s in lines)
    assert len(read_history(tmp_path / "history.csv")) == 1


def test_no_validation_selects_by_train_loss_and_time_budget_stops(frames, tmp_path):
    lines: list[str] = []
    result = train(
        frames[0], [], tmp_path, small_config(epochs=5, max_minutes=1e-6), log=lines.append
    )
    assert any(s.startswith("warning") and "training loss" in s for s in lines)
    assert any("time budget" in s for s in lines)
    assert result["epochs_run"] == 1 and result["best_val_iou"] is None
    rows = read_history(tmp_path / "history.csv")
    assert rows[0]["val_iou"] == "" and rows[0]["val_loss"] == ""
    assert (tmp_path / "model" / "model.safetensors").exists()


@pytest.mark.parametrize(
    ("loss", "schedule", "thin_weight"),
    [("bce_dice", "plateau", 1.0), ("bce", "cosine", 1.0), ("bce_dice", "cosine", 5.0)],
)
def test_losses_and_schedules_survive_a_resume(frames, tmp_path, loss, schedule, thin_weight):
    cfg = small_config(epochs=1, loss=loss, lr_schedule=schedule, thin_weight=thin_weight)
    train(*frames, tmp_path, cfg, log=lambda s: None)
    lines: list[str] = []
    # epochs and execution resources may change on resume
    result = train(
        *frames,
        tmp_path,
        dataclasses.replace(cfg, epochs=2, threads=2, num_workers=1),
        log=lines.append,
    )
    assert any(s.startswith("resumed at epoch 2/2") for s in lines)
    assert result["epochs_run"] == 2
    rows = read_history(tmp_path / "history.csv")
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert all(np.isfinite(float(r["train_loss"])) for r in rows)


def test_thin_weights_mark_stems_and_their_sides_not_corners():
    target = torch.zeros(1, 1, 24, 24)
    target[0, 0, 4:16, 2:14] = 1  # a blade, square corners and all
    target[0, 0, 2:22, 18:20] = 1  # a stem two pixels wide
    w = thin_weights(target, 5.0)[0, 0]
    assert torch.all(w[:, 16:22] == 5.0)  # the stem and the paper two pixels either side
    assert torch.all(w[:, :16] == 1.0) and torch.all(w[:, 22:] == 1.0)  # blade and far paper


@pytest.mark.parametrize("name", ["bce", "bce_dice"])
def test_thin_weight_makes_a_missed_stem_cost_more(name):
    target = torch.zeros(1, 1, 24, 24)
    target[0, 0, 4:16, 2:14] = 1
    target[0, 0, 2:22, 18:20] = 1
    logits = torch.where(target > 0, 4.0, -4.0)
    logits[0, 0, 2:22, 18:20] = -4.0  # the stem left out
    plain, weighted = loss_fn_for(name)(logits, target), loss_fn_for(name, 5.0)(logits, target)
    assert weighted > 1.5 * plain
    # with weight 1 the loss is the plain one, bit for bit
    assert torch.equal(loss_fn_for(name, 1.0)(logits, target), plain)
    if name == "bce":
        assert torch.equal(plain, torch.nn.BCEWithLogitsLoss()(logits, target))


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="thin_weight"):
        small_config(thin_weight=0.5).validate()
    with pytest.raises(ValueError, match="patience"):
        small_config(select="last", patience=2).validate()
    with pytest.raises(ValueError, match="batch_size"):
        small_config(batch_size=1).validate()
    with pytest.raises(ConfigError, match="'train.learning_rate'"):
        settings_from(TrainConfig, {"learning_rate": 1}, "train")
    with pytest.raises(ConfigError, match="train.encoder"):  # a model key, not train's
        settings_from(TrainConfig, {"encoder": "resnet18"}, "train")
    assert settings_from(TrainConfig, {"epochs": 3}, "train", threads=2).epochs == 3


# --------------------------------------------------------------------------- resume & determinism


def _train_in_subprocess(frames, out: Path, cfg: TrainConfig) -> subprocess.Popen:
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from herbseg.stages.train import TrainConfig, train\n"
        "a = json.loads(sys.argv[1])\n"
        "items = [[(Path(i), Path(m)) for i, m in part] for part in a['items']]\n"
        "train(items[0], items[1], Path(a['out']), TrainConfig(**a['cfg']))\n"
    )
    arg = json.dumps(
        {
            "items": [[(str(i), str(m)) for i, m in part] for part in frames],
            "out": str(out),
            "cfg": dataclasses.asdict(cfg),
        }
    )
    env = {**os.environ, "PYTHONPATH": str(SRC), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-c", script, arg],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill_after_epochs(proc: subprocess.Popen, history: Path, n: int, timeout: float = 300) -> None:
    """SIGKILL the training process as soon as ``history`` lists ``n`` epochs (it is written
    after the checkpoint, so that epoch is safe), from outside: nothing in train.py helps."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if history.exists() and len(history.read_text().splitlines()) - 1 >= n:
            break
        time.sleep(0.01)
    proc.kill()
    proc.communicate(timeout=60)


def test_killed_run_resumes_after_last_checkpoint(frames, tmp_path, reference_run):
    cfg = small_config(epochs=4)
    proc = _train_in_subprocess(frames, tmp_path, cfg)
    _kill_after_epochs(proc, tmp_path / "history.csv", 2)
    assert proc.returncode == -signal.SIGKILL
    done = len(read_history(tmp_path / "history.csv"))
    assert 2 <= done < 4, done

    lines: list[str] = []
    result = train(*frames, tmp_path, cfg, log=lines.append)
    assert any(s.startswith(f"resumed at epoch {done + 1}/4") for s in lines), lines
    expected = [f"{e}/4" for e in range(done + 1, 5)]
    assert [s.split()[1] for s in lines if s.startswith("epoch ")] == expected
    rows = read_history(tmp_path / "history.csv")
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4"]
    assert result["epochs_run"] == 4
    # Resuming replays exactly what an uninterrupted run computes.
    assert without_seconds(rows) == without_seconds(read_history(reference_run / "history.csv"))
    assert_same_model(tmp_path / "model", reference_run / "model")


def assert_same_model(a: Path, b: Path) -> None:
    """Same weight bytes and the same card bar its creation time."""
    assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
    assert (a / "config.json").read_bytes() == (b / "config.json").read_bytes()
    ca = json.loads((a / "model_card.json").read_text())
    cb = json.loads((b / "model_card.json").read_text())
    assert ca.pop("created_utc") and cb.pop("created_utc")
    assert ca == cb


def test_outputs_removed_after_the_last_epoch_are_rebuilt(frames, tmp_path, reference_run):
    """The issue-20 bug: Snakemake deletes a killed job's outputs before ``--rerun-incomplete``;
    no later epoch beats the best, so the model was never saved again and the job failed."""
    shutil.copytree(reference_run, tmp_path, dirs_exist_ok=True)
    shutil.rmtree(tmp_path / "model")
    (tmp_path / "history.csv").unlink()
    lines: list[str] = []
    result = train(*frames, tmp_path, small_config(epochs=4), log=lines.append)
    assert not [s for s in lines if s.startswith("epoch ")]  # nothing left to train
    assert result["epochs_run"] == 4
    assert_same_model(tmp_path / "model", reference_run / "model")
    a, b = read_history(tmp_path / "history.csv"), read_history(reference_run / "history.csv")
    assert a == b


@pytest.mark.parametrize("select", ["best", "last"])
def test_select_picks_the_model_epoch(frames, tmp_path, select):
    """``select: last`` keeps the final epoch's weights whatever the validation IoU says;
    ``best`` keeps the epoch with the highest one."""
    result = train(*frames, tmp_path, small_config(epochs=3, select=select), log=lambda s: None)
    ious = [float(r["val_iou"]) for r in read_history(tmp_path / "history.csv")]
    expected = 3 if select == "last" else 1 + ious.index(max(ious))
    assert result["best_epoch"] == expected
    model = load_file(tmp_path / "model" / "model.safetensors")
    last = torch.load(tmp_path / "checkpoint.pt", map_location="cpu", weights_only=False)["model"]
    same = all(torch.equal(model[k], last[k]) for k in model)
    assert same == (expected == 3)


def test_snapshot_of_an_unrecorded_best_epoch_is_not_trusted(frames, tmp_path):
    """A crash between a new best's snapshot and the checkpoint naming it: the checkpoint's own
    best stays the model, and a checkpoint whose snapshot is gone starts over loudly."""
    cfg = small_config(epochs=1)
    train(*frames, tmp_path, cfg, log=lambda s: None)
    state = tmp_path / ".state"
    assert [p.name for p in state.iterdir()] == ["best-epoch-00001"]
    shutil.copytree(state / "best-epoch-00001", state / "best-epoch-00002")  # stray snapshot
    (tmp_path / ".checkpoint.x1.tmp.pt").write_bytes(b"half a checkpoint")
    train(*frames, tmp_path, cfg, log=lambda s: None)
    assert [p.name for p in state.iterdir()] == ["best-epoch-00001"]
    assert not list(tmp_path.glob(".checkpoint.*"))
    shutil.rmtree(state)
    lines: list[str] = []
    train(*frames, tmp_path, cfg, log=lines.append)
    assert any("which is gone; starting over" in s for s in lines), lines
    assert (tmp_path / "model" / "model.safetensors").exists()


def test_deterministic_runs_are_identical(frames, tmp_path, reference_run):
    # Same config as the reference except DataLoader workers, which must not change anything.
    train(*frames, tmp_path, small_config(epochs=4, num_workers=2), log=lambda s: None)
    a = read_history(tmp_path / "history.csv")
    b = read_history(reference_run / "history.csv")
    assert without_seconds(a) == without_seconds(b)
    assert weights_equal(
        tmp_path / "model" / "model.safetensors", reference_run / "model" / "model.safetensors"
    )
    ca = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["model"]
    cb = torch.load(reference_run / "checkpoint.pt", weights_only=True)["model"]
    assert all(torch.equal(ca[k], cb[k]) for k in ca)


# --------------------------------------------------------------------------- data


def test_augmentation_keeps_size_and_binary_masks(frames):
    aug = build_augmentation({"rotate": 30, "hflip": 0.5, "vflip": 0.5, "brightness": 0.2})
    ds = FrameDataset(*zip(*frames[0], strict=True), aug)
    x, y = ds[(0, 123)]
    assert x.shape == (3, SIZE, SIZE) and x.dtype == torch.float32
    assert y.shape == (1, SIZE, SIZE) and set(y.unique().tolist()) <= {0.0, 1.0}
    x2, y2 = ds[(0, 123)]
    assert torch.equal(x, x2) and torch.equal(y, y2)  # a draw is fixed by its seed
    x3, _ = ds[(0, 124)]
    assert not torch.equal(x, x3)


def test_train_size_brings_frames_and_masks_down(frames):
    """train.size: the network trains on smaller frames than predict gives it (still binary)."""
    aug = build_augmentation({"rotate": 30, "hflip": 0.5}, size=SIZE // 2)
    x, y = FrameDataset(*zip(*frames[0], strict=True), aug)[(0, 5)]
    assert x.shape == (3, SIZE // 2, SIZE // 2) and y.shape == (1, SIZE // 2, SIZE // 2)
    assert set(y.unique().tolist()) == {0.0, 1.0}
    # the same leaves, at half the scale: coverage stays within a few percent
    full = FrameDataset(*zip(*frames[0], strict=True), build_augmentation({}))[(0, 5)][1]
    plain = FrameDataset(*zip(*frames[0], strict=True), build_augmentation({}, size=SIZE // 2))
    assert abs(float(plain[(0, 5)][1].mean()) - float(full.mean())) < 0.03


def test_training_on_smaller_frames_validates_on_the_full_ones(frames, tmp_path):
    lines: list[str] = []
    train(*frames, tmp_path, small_config(epochs=1, size=SIZE // 2), log=lines.append)
    card = json.loads((tmp_path / "model" / "model_card.json").read_text())
    assert card["config"]["size"] == SIZE // 2
    assert 0.0 <= float(read_history(tmp_path / "history.csv")[0]["val_iou"]) <= 1.0


def test_channels_last_auto_on_cpu_follows_depthwise_convolutions():
    """auto: channels-last on the CPU where it was measured faster (depthwise convolutions)."""
    cpu = torch.device("cpu")
    depthwise, plain = build_model("mobilenet_v2", None), build_model("resnet18", None)

    def layout(model, setting):
        return Switches.resolve(
            cpu, model, amp=True, channels_last=setting, pin_memory=True
        ).memory_format

    assert layout(depthwise, "auto") == torch.channels_last
    assert layout(plain, "auto") == torch.contiguous_format
    assert layout(plain, True) == torch.channels_last
    assert layout(depthwise, False) == torch.contiguous_format
    with pytest.raises(ValueError, match="channels_last"):
        small_config(channels_last="yes").validate()


def test_flips_are_drawn_independently(tmp_path):
    """Seeding every transform alike would make hflip and vflip always coincide (2 corners)."""
    img = np.full((32, 32, 3), 255, np.uint8)
    img[:4, :4] = 0  # a dark corner to follow
    write_rgb(tmp_path / "f.png", img)
    write_mask(tmp_path / "m.png", np.zeros((32, 32), bool))
    ds = FrameDataset(
        [tmp_path / "f.png"], [tmp_path / "m.png"], build_augmentation({"hflip": 0.5, "vflip": 0.5})
    )
    corners = set()
    for seed in range(40):
        x, _ = ds[(0, seed)]
        top = bool(x[0, :16].mean() < x[0, 16:].mean())
        left = bool(x[0, :, :16].mean() < x[0, :, 16:].mean())
        corners.add((top, left))
    assert len(corners) == 4


def test_augmentation_rejects_unknown_keys():
    with pytest.raises(ValueError, match="unknown"):
        build_augmentation({"rotation": 30})


def test_dataset_without_transform_matches_preprocess(frames):
    from herbseg.io.images import load_rgb, read_mask
    from herbseg.model.network import preprocess

    image_path, mask_path = frames[1][0]
    x, y = FrameDataset([image_path], [mask_path])[0]
    assert torch.equal(x, preprocess(load_rgb(image_path)[None])[0])
    assert torch.equal(y[0].bool(), torch.from_numpy(read_mask(mask_path)))
