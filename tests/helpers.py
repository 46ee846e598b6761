"""Helpers shared by test modules: the workflow in a subprocess, small generated inputs.

Test modules import from here (and fixtures come from conftest.py), never from one another: a
helper that lives in a test module drags that module's imports and collection into every user,
and renaming a test file should not break another. Heavy libraries (torch, smp) are imported
inside the functions that need them so a unit test that only writes a sheet does not pay for them.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from PIL import Image, ImageDraw

from herbseg.plan import job_stats

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SNAKEMAKE = [sys.executable, "-m", "snakemake"]

# The smallest config that still trains, predicts and measures: one epoch of a random-weights
# resnet18 on 64-px frames. Workflow tests start from it and change only the key under test.
# Predict runs the network in torch: the OpenVINO conversion (the CPU default) costs each job
# about 3 s for a model it has not seen, and nearly every run here trains a model of its own.
# The session's synthetic run (conftest.py's synth_run) keeps the default, so the whole demo
# path is tested as users run it; test_runtime.py tests OpenVINO itself.
TINY = {
    "resize": {"size": 64},
    "model": {"encoder": "resnet18", "encoder_weights": None},
    "train": {"epochs": 1, "batch_size": 4, "num_workers": 0, "lr": 1e-3},
    "predict": {"batch_size": 4, "cpu_runtime": "torch"},
    "measure": {"min_leaf_px": 20},
    "threads": {"ingest": 2, "resize": 2, "train": 2, "predict": 2, "measure": 1},
}


def synth_config(n_sheets: int, seed: int, **synth: object) -> dict:
    """TINY on a small synthetic collection in ``demo/`` (300×450 px at 60 dpi), read as
    config/demo.yaml reads it (the generated Darwin Core Archive, its images as the media root):
    the config of the session's ``synth_run`` and of the classifier's run (they differ in size,
    seed, extras)."""
    return {
        **TINY,
        "sheets": "demo/dwca",
        "ingest": {"media_root": "demo/sheets", "id_column": "title"},
        "annotations": "demo/masks",
        "results": "demo/results",
        "synth": {
            "enabled": True,
            "n_sheets": n_sheets,
            "seed": seed,
            "width": 300,
            "height": 450,
            "dpi": 60,
            "truth": "demo/truth.csv",
            **synth,
        },  # fmt: skip
    }


# --- the workflow --------------------------------------------------------------------------

# The running test (set by conftest.py before its fixtures): run_snakemake checks its marker.
CURRENT_TEST: Any = None


def run_snakemake(workdir: Path, config: dict, *args: str, check: bool = True):
    """The real Snakefile on ``workdir`` with ``config`` (written to ``workdir/config.yaml``).

    Only from a test marked ``workflow`` (its fixtures included): a Snakemake start costs
    seconds, and the unit tier (``make test-fast``) must stay fast.
    """
    if CURRENT_TEST is not None and CURRENT_TEST.get_closest_marker("workflow") is None:
        raise AssertionError(f"{CURRENT_TEST.nodeid} starts Snakemake: mark it workflow")
    cfg = workdir / "config.yaml"
    cfg.write_text(yaml.safe_dump(config))
    cmd = [*SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--configfile", str(cfg), "--cores", "2", *args]  # fmt: skip
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stderr[-6000:]}")
    return proc


def planned_rules(workdir: Path, config: dict, *args: str) -> dict[str, int]:
    """The jobs a dry run would execute, per rule, from Snakemake's job-stats table."""
    out = run_snakemake(workdir, config, "-n", *args)
    return job_stats(out.stdout + out.stderr)


def copy_run(work: Path, dest: Path) -> Path:
    """A private copy of a finished run to change: sheets, results and Snakemake's
    ``.snakemake`` records, every mtime kept (folders included), so Snakemake sees it finished."""
    shutil.copytree(work, dest, symlinks=True)
    return dest


# --- generated inputs ----------------------------------------------------------------------


def write_sheet(
    path: Path,
    w: int = 120,
    h: int = 180,
    dpi: float | None = 300,
    fmt: str = "JPEG",
    seed: int = 0,
    **save,
) -> Path:
    """A small sheet: cream paper with a green blob, saved with the given format and DPI."""
    rng = np.random.default_rng(seed)
    arr = np.full((h, w, 3), (235, 228, 205), np.uint8)
    arr[h // 4 : h // 2, w // 4 : w // 2] = (60, 120, 50)
    arr = (arr + rng.integers(0, 8, arr.shape)).clip(0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    if dpi is not None:
        save["dpi"] = (dpi, dpi)
    Image.fromarray(arr).save(path, format=fmt, **save)
    return path


def write_mask_file(path: Path, w: int = 120, h: int = 180, fmt: str = "PNG") -> Path:
    """The annotation of :func:`write_sheet`'s blob (same geometry when ``w, h`` match)."""
    arr = np.zeros((h, w), np.uint8)
    arr[h // 4 : h // 2, w // 4 : w // 2] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, format=fmt)
    return path


DRAWN_W, DRAWN_H = 300, 400


def drawn_sheet(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A photographed sheet: dark table, cream paper, leaves and a stem, a printed label with
    text, a colour chart and a purple stamp. Returns the RGB image and the plant mask."""
    W, H = DRAWN_W, DRAWN_H
    rng = np.random.default_rng(seed)
    im = Image.new("RGB", (W, H), (70, 50, 35))  # the table around the sheet
    d = ImageDraw.Draw(im)
    d.rectangle([20, 15, W - 20, H - 15], fill=(236, 230, 212))  # paper
    plant = Image.new("L", (W, H), 0)
    p = ImageDraw.Draw(plant)
    for _ in range(5):
        cx, cy = rng.integers(80, 220), rng.integers(60, 230)
        box = [cx - 22, cy - 12, cx + 22, cy + 12]
        green = tuple(int(v) for v in rng.integers([50, 90, 30], [90, 140, 60]))
        d.ellipse(box, fill=green)
        p.ellipse(box, fill=255)
    d.line([150, 240, 160, 330], fill=(110, 85, 45), width=4)  # brown stem
    p.line([150, 240, 160, 330], fill=255, width=4)
    d.rectangle([170, 320, 270, 370], fill=(245, 245, 243))  # label card
    for y in range(328, 366, 7):
        d.line([176, y, 262, y], fill=(30, 30, 30), width=2)  # its text
    for i, colour in enumerate([(200, 30, 30), (30, 60, 200), (230, 200, 20), (40, 150, 60)]):
        d.rectangle([30 + 22 * i, 330, 50 + 22 * i, 350], fill=colour)  # colour chart
    d.ellipse([230, 30, 265, 65], outline=(110, 60, 160), width=4)  # stamp
    rgb = np.asarray(im).astype(np.int16) + rng.integers(-4, 5, (H, W, 3))
    return rgb.clip(0, 255).astype(np.uint8), np.asarray(plant) > 0


def png16_rgb(path: Path, arr: np.ndarray) -> Path:
    """A 16-bit RGB PNG, written by hand because Pillow cannot create one."""
    h, w, _ = arr.shape
    raw = b"".join(b"\x00" + arr[r].astype(">u2").tobytes() for r in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )  # fmt: skip
    return path


# --- archives, profiles, model weights -----------------------------------------------------

META = """<?xml version="1.0" encoding="utf-8"?>
<archive xmlns="http://rs.tdwg.org/dwc/text/" metadata="metadata.xml">
  <core encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n" fieldsEnclosedBy=""
        ignoreHeaderLines="1" rowType="http://rs.tdwg.org/dwc/terms/Occurrence">
    <files><location>occurrence.txt</location></files>
    <id index="0"/>
    <field index="0" term="http://rs.gbif.org/terms/1.0/gbifID"/>
    <field index="1" term="http://rs.tdwg.org/dwc/terms/catalogNumber"/>
    <field index="2" term="http://rs.tdwg.org/dwc/terms/scientificName"/>
  </core>
  <extension encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n"
        fieldsEnclosedBy="" ignoreHeaderLines="0"
        rowType="http://rs.gbif.org/terms/1.0/Multimedia">
    <files><location>multimedia.txt</location></files>
    <coreid index="0"/>
    <field index="0" term="http://rs.gbif.org/terms/1.0/gbifID"/>
    <field index="1" term="http://purl.org/dc/terms/type"/>
    <field index="2" term="http://purl.org/dc/terms/identifier"/>
    <field term="http://purl.org/dc/terms/license" default="CC0"/>
  </extension>
</archive>
"""

SLURM_PLACEHOLDER = "EDIT_ME"


def edited_slurm_profile(
    dest: Path, *, account: str, partition: str, gpu_partition: str, extra: str = ""
) -> Path:
    """profiles/slurm as its user makes it: the placeholders of the EDIT lines filled in.

    ``extra`` is appended verbatim (top-level keys of a test cluster); the folder is returned.
    """
    values = {"slurm_account": account, "slurm_partition": partition}
    lines = []
    for line in (REPO / "profiles" / "slurm" / "config.yaml").read_text().splitlines():
        if "# EDIT" in line:
            key = line.split(":")[0].strip()
            value = gpu_partition if "&gpu_partition" in line else values[key]
            line = line.replace(json.dumps(SLURM_PLACEHOLDER), json.dumps(value))
        lines.append(line)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "config.yaml").write_text("\n".join(lines) + "\n" + extra)
    return dest


ENCODER = "resnet18"


def random_encoder_state(seed: int = 1) -> dict[str, Any]:
    """Random resnet18 encoder weights, as a downloaded checkpoint would hold them."""
    import segmentation_models_pytorch as smp
    import torch

    torch.manual_seed(seed)
    encoder = smp.encoders.get_encoder(ENCODER, weights=None)
    return {k: v.clone().contiguous() for k, v in encoder.state_dict().items()}


def fill_hub_cache(home: Path, state: dict[str, Any]) -> Path:
    """Lay out ``smp-hub/<encoder>.imagenet`` as huggingface_hub's cache does after a download."""
    import segmentation_models_pytorch as smp
    from safetensors.torch import save_file

    from herbseg.model.normalisation import IMAGENET_MEAN, IMAGENET_STD

    settings = smp.encoders.encoders[ENCODER]["pretrained_settings"]["imagenet"]
    repo = home / "hub" / ("models--" + settings["repo_id"].replace("/", "--"))
    snapshot = repo / "snapshots" / settings["revision"]
    snapshot.mkdir(parents=True)
    save_file(state, str(snapshot / "model.safetensors"))
    (snapshot / "config.json").write_text(
        json.dumps({"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)})
    )
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(settings["revision"])
    return snapshot


# --- Darwin Core Archives ------------------------------------------------------------------

DWC = "http://rs.tdwg.org/dwc/terms/"


def read_dwc_archive(folder: Path, row_type: str = "") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(core rows, extension rows) of an archive as a third-party reader (python-dwca-reader)
    sees them, each extension row with its ``coreid``; the extension is the MeasurementOrFact one
    unless ``row_type`` names another, and every row's extensions must be of that type."""
    from dwca.read import DwCAReader

    from herbseg.io.dwca import MOF_ROW_TYPE

    row_type = row_type or MOF_ROW_TYPE
    core, rows = [], []
    with DwCAReader(str(folder)) as archive:
        assert archive.extension_files[0].file_descriptor.type == row_type
        for row in archive:
            core.append({"id": row.id, **{k.rsplit("/", 1)[-1]: v for k, v in row.data.items()}})
            for ext in row.extensions:
                assert ext.rowtype == row_type
                rows.append({"coreid": ext.core_id,
                             **{k.rsplit("/", 1)[-1]: v for k, v in ext.data.items()}})  # fmt: skip
    return pd.DataFrame(core), pd.DataFrame(rows)


def check_measurements_match(facts: pd.DataFrame, area: pd.DataFrame, link: str) -> None:
    """One MeasurementOrFact row per (occurrence, measurement), and the leaf areas and counts
    those of ``leaf_area.csv``'s measured sheets, summed per occurrence (``link`` column)."""
    assert not facts.duplicated(["coreid", "measurementType"]).any()
    ok = area[area["status"] == "ok"]
    value = facts.set_index(["coreid", "measurementType"])["measurementValue"]
    scaled = ok[ok["leaf_area_mm2"].astype(str).str.strip() != ""]
    expected = scaled.groupby(link)["leaf_area_mm2"].apply(lambda v: v.astype(float).sum())
    got = value.xs("leaf area", level="measurementType")
    assert sorted(got.index) == sorted(expected.index)
    assert np.allclose(got[expected.index].astype(float), expected.values, rtol=1e-6)
    counts = ok.groupby(link)["n_leaves"].apply(lambda v: v.astype(int).sum())
    got_counts = value.xs("leaf count", level="measurementType")
    assert sorted(got_counts.index) == sorted(counts.index)
    assert (got_counts[counts.index].astype(int).values == counts.values).all()
