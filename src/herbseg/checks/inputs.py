"""The start-up checks of a run's inputs, config values and places (see
:mod:`herbseg.checks.startup`).

Each function takes the schema-validated config and raises :class:`ConfigError` with one sentence
naming the key and what to do. They only list names and headers: a 10,000-sheet folder is checked
in well under ten seconds, and nothing is written (the results folder is not even created).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from herbseg.checks.startup import CHECKS
from herbseg.config.schema import ConfigError


def _exts(config: dict[str, Any]) -> list[str]:
    return list(config["ingest"]["extensions"])


def _synth(config: dict[str, Any]) -> bool:
    return bool(config.get("synth", {}).get("enabled"))


def check_sheets(config: dict[str, Any]) -> None:
    """The sheets folder, glob or list exists and holds at least one image ingest would take."""
    if _synth(config):  # the demo writes its own sheets
        _check_synth_sheets(config)
        return
    from herbseg.io.sheets import discover_sheets

    source = str(config["sheets"])
    path = Path(source)
    is_glob = any(ch in source for ch in "*?[")
    if not is_glob and not path.exists():
        raise ConfigError(
            "sheets", f"{source!r} does not exist; point it at a folder of sheet images, a glob, "
            "a CSV with a 'path' column or a Darwin Core Archive."
        )  # fmt: skip
    from herbseg.io import dwca

    if path.is_dir() and not dwca.is_archive(path) and not _any_sheet_in(path, _exts(config)):
        others = sum(len(names) for _, _, names in os.walk(path))
        raise ConfigError(
            "sheets", f"folder {source!r} holds no file ending in "
            f"{', '.join(_exts(config))} ({others} other files); add sheet images or set "
            "ingest.extensions."
        )  # fmt: skip
    if is_glob:
        try:
            discover_sheets(source, _exts(config))
        except FileNotFoundError:
            raise ConfigError(
                "sheets", f"the glob {source!r} matches no file; check the pattern."
            ) from None


def _check_synth_sheets(config: dict[str, Any]) -> None:
    """The generated collection is read where synth writes it: its images, or its archive with
    the images as the media root."""
    base = Path(config["synth"]["truth"]).parent
    images, archive = os.path.normpath(base / "sheets"), os.path.normpath(base / "dwca")
    sheets = os.path.normpath(str(config["sheets"]))
    if sheets not in (images, archive):
        raise ConfigError(
            "sheets", f"is {config['sheets']!r}, but synth writes the demo's sheets to {images!r} "
            f"and their Darwin Core Archive to {archive!r} (beside synth.truth); name one of them."
        )  # fmt: skip
    media_root = config["ingest"]["media_root"]
    if sheets == archive and os.path.normpath(str(media_root or "")) != images:
        raise ConfigError(
            "ingest.media_root", f"is {media_root!r}, but the generated archive's images are in "
            f"{images!r}; set it to that folder."
        )  # fmt: skip


def _any_sheet_in(folder: Path, extensions: list[str]) -> bool:
    ends = tuple(e.lower() for e in extensions)
    return any(n.lower().endswith(ends) for _, _, names in os.walk(folder) for n in names)


def check_annotations(config: dict[str, Any]) -> None:
    """Annotations exist, and at least one of them belongs to a sheet: a training set that pairs
    with nothing is almost always the wrong folder or another naming scheme."""
    annotations = config.get("annotations")
    if not annotations or _synth(config):
        return
    from herbseg.io.annotations import annotation_matches
    from herbseg.io.sheets import discover_sheets

    if not Path(annotations).exists():
        raise ConfigError(
            "annotations", f"{annotations!r} does not exist; point it at a folder of masks or a "
            "COCO JSON file, or set it to null to predict with a trained model."
        )  # fmt: skip
    ingest = config["ingest"]
    try:
        sheets = discover_sheets(
            config["sheets"], _exts(config), media_root=ingest["media_root"],
            id_column=ingest["id_column"],
        )  # fmt: skip
    except ValueError as exc:
        raise ConfigError("sheets", f"{exc}.") from None
    n_annotations, n_matched = annotation_matches(sheets, annotations, _exts(config))
    if n_annotations == 0:
        raise ConfigError(
            "annotations", f"{annotations!r} holds no mask image ({', '.join(_exts(config))}) and "
            "no COCO JSON; point it at the masks, or set it to null."
        )  # fmt: skip
    if n_matched == 0:
        raise ConfigError(
            "annotations", f"none of the {n_annotations} annotations in {annotations!r} matches "
            f"any of the {len(sheets)} sheets by sheet id or file stem (a '_mask' suffix is "
            "allowed); rename them after their sheets or point the key at the right folder."
        )  # fmt: skip


def check_batch_size(config: dict[str, Any]) -> None:
    """DeepLabv3+'s ASPP has BatchNorm after global pooling: a batch of one cannot train."""
    if config["train"]["batch_size"] < 2:
        raise ConfigError(
            "train.batch_size", f"is {config['train']['batch_size']}, but DeepLabv3+ trains only "
            "with batches of 2 or more (BatchNorm); set it to 2 or more."
        )  # fmt: skip


def check_model_selection(config: dict[str, Any]) -> None:
    """``train.patience`` stops when the best epoch stops improving; with ``train.select: last``
    every epoch is the model, so it would never stop: a contradiction, not a no-op."""
    train = config["train"]
    if train.get("select") == "last" and train.get("patience") is not None:
        raise ConfigError(
            "train.patience", f"is {train['patience']}, but early stopping watches the best "
            "epoch and train.select is 'last'; set patience to null or select to 'best'."
        )  # fmt: skip


def check_devices(config: dict[str, Any], *, local: bool = True) -> None:
    """``cuda`` asked for on a machine without one fails only after ingest and resizing.

    Only what can be known here is checked: with a cluster executor the jobs run on compute
    nodes, whose GPUs the login node cannot see, so ``local=False`` skips the check (the job then
    reports it). The driver is asked directly (:func:`cuda_devices`): importing torch would take
    longer than the whole check may.
    """
    stages = [s for s in ("train", "predict") if config[s]["device"] == "cuda"]
    if not stages or not local:
        return
    if cuda_devices() == 0:
        raise ConfigError(
            f"{stages[0]}.device", "is 'cuda' but this machine has no CUDA GPU that torch can use; "
            "set it to auto or cpu, or run on a GPU node (a cluster executor skips this check)."
        )  # fmt: skip


def check_cpu_runtime(config: dict[str, Any]) -> None:
    """``cpu_runtime: openvino`` or ``cpu_precision: int8`` without their packages would fail in
    every predict job."""
    import importlib.util

    predict = config["predict"]
    if predict["cpu_runtime"] == "openvino" and not importlib.util.find_spec("openvino"):
        raise ConfigError(
            "predict.cpu_runtime", "is 'openvino' but the openvino package is not installed; "
            "pip install openvino (requirements.txt has it), or set it to auto or torch."
        )  # fmt: skip
    if predict["cpu_precision"] == "int8" and not importlib.util.find_spec("nncf"):
        raise ConfigError(
            "predict.cpu_precision", "is 'int8' but the nncf package that quantizes the network "
            "is not installed; pip install nncf (requirements.txt has it), or set it to fp32."
        )  # fmt: skip


def check_results_writable(config: dict[str, Any]) -> None:
    """The results folder (or the nearest folder above it that exists) accepts a file.

    Tried with a temporary file that is removed at once, so a read-only mount is caught even for
    root, and nothing is left behind.
    """
    results = Path(config["results"]).absolute()
    probe = results
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(
            "results", f"{str(probe)!r} is a file, so the folder {config['results']!r} cannot be "
            "made under it; choose another results folder."
        )  # fmt: skip
    try:
        fd, name = tempfile.mkstemp(prefix=".herbseg-write-test-", dir=probe)
    except OSError as exc:
        raise ConfigError(
            "results", f"cannot write into {str(probe)!r} ({exc.strerror or exc}), so "
            f"{config['results']!r} cannot hold the run's outputs; choose a writable folder."
        ) from None  # fmt: skip
    os.close(fd)
    os.unlink(name)


def cuda_devices() -> int:
    """CUDA devices the driver offers this process (honours CUDA_VISIBLE_DEVICES); 0 without a
    driver. The same libcuda calls torch.cuda.is_available() ends in, in milliseconds."""
    import ctypes

    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return 0
    count = ctypes.c_int(0)
    if cuda.cuInit(0) != 0 or cuda.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return 0
    return count.value


# In the order a user meets them; check_devices needs to know where jobs run (see check_config).
CHECKS[:0] = [
    check_results_writable,
    check_sheets,
    check_annotations,
    check_batch_size,
    check_model_selection,
    check_cpu_runtime,
]
