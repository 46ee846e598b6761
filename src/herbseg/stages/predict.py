"""Segment every sheet of a shard and write its mask in the sheet's own geometry.

The shard is streamed: frames are decoded a few batches ahead by a thread pool (one task per
frame, so decoding runs on all of the job's threads), the model works on one batch at a time, and
masks are brought back onto the sheet and PNG-encoded by the same pool behind it. Both queues are
bounded, so a job's memory depends on the batch size and the sheet size, never on how many sheets
the shard holds. Threads, not worker processes: Pillow and zlib release the GIL while decoding and
encoding, the model's weights are not copied, and on a CPU-only node the model needs the cores.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from herbseg.config.settings import settings_from
from herbseg.io.files import write_csv
from herbseg.io.geometry import (
    Geometry,
    frame_to_grid,
    frame_to_sheet,
    image_to_grid,
    output_size,
)
from herbseg.io.images import DEFAULT_MAX_MEGAPIXELS, SheetError, load_rgb
from herbseg.io.progress import Progress
from herbseg.io.tables import PREDICTION_COLUMNS, failed_row, read_table
from herbseg.measurement.colour import is_greyscale
from herbseg.measurement.refine import THIN_FOR_PLANTS, RefineSettings, band_px
from herbseg.model.card import check_frames, read_card, trained_on_grey, weights_sha256
from herbseg.model.infer import predict_proba
from herbseg.model.masks import mask_doubt, write_mask_row, write_prediction
from herbseg.model.network import load_model, resolve_device
from herbseg.model.runtime import Network, cpu_network
from herbseg.model.tiles import (
    TileSettings,
    predict_tiled_shard,
    tiled_proba,
    with_thin_parts,
    working_sheet,
)

PREDICT_COLUMNS = PREDICTION_COLUMNS  # the table predict_shard returns
# Batches decoded ahead of the model: one is enough to hide decoding behind a CPU forward pass;
# the second covers a GPU, where a batch is done in a fraction of the time one frame decodes.
PREFETCH_BATCHES = 2


@dataclass(frozen=True)
class PredictSettings:
    """The ``predict:`` config section; the ``refine_*`` keys become :meth:`refine_for`."""

    batch_size: int = 8
    long_side: int | None = None
    threshold: float = 0.5
    device: str = "auto"
    amp: bool = True
    channels_last: bool = True
    cpu_runtime: str = "auto"
    cpu_precision: str = "fp32"
    cpu_min_agreement: float = 0.998
    tta: bool = False
    refine_edges: bool = True
    refine_band: float = 1.0
    refine_thin: float | str = "auto"
    sheet_only: bool = True
    drop_pictures: bool = True
    drop_cards: bool = True
    tiles: TileSettings = field(default_factory=TileSettings)

    def refine_for(self, mask_class: str | None) -> RefineSettings:
        """The edge refinement for a model that marks ``mask_class`` (its card's ``mask_class``;
        None for a card without one, which predates whole-plant models: ``leaf``).

        ``refine_thin: auto`` follows thin structures only for whole-plant models: a leaf model's
        stems and petioles are not its class, and colour would add them. Only whole-plant models
        fill the holes that are plant under tape: for a leaf model a taped leaf is a covered one.
        """
        thin = self.refine_thin
        if thin == "auto":
            thin = THIN_FOR_PLANTS if mask_class == "plant" else 0.0
        return RefineSettings(
            enabled=bool(self.refine_edges),
            band=float(self.refine_band),
            thin=float(thin),
            sheet_only=bool(self.sheet_only),
            drop_pictures=bool(self.drop_pictures),
            drop_cards=bool(self.drop_cards),
            plant=mask_class == "plant",
        )


def _batches(rows: list[dict], size: int) -> Iterator[list[dict]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def _load(row: dict) -> np.ndarray | str:
    """A frame, or the reason it cannot be read: one bad frame must not end a shard's job."""
    try:
        return load_rgb(row["frame_path"])
    except SheetError as exc:
        return f"frame unreadable: {exc.reason}"
    except OSError as exc:
        return f"frame unreadable: {exc}"


def _whole(value):
    """A size cell as a whole number (the frames table reads blanks as NaN, so its sizes come
    back as floats), blank kept blank."""
    return value if value is None or pd.isna(value) or value == "" else int(value)


def _failed(row: dict, error: str) -> dict:
    return failed_row(
        row["sheet_id"], error, _whole(row.get("sheet_w")), _whole(row.get("sheet_h"))
    )


def _write(
    prob: np.ndarray,
    row: dict,
    out_dir: Path,
    long_side: int | None,
    threshold: float,
    sheet_path: str | None,
    refine: RefineSettings | None,
    max_megapixels: float,
    tiles: np.ndarray | None = None,
) -> tuple[dict, bool]:
    """Write one mask; returns its table row and whether its edges were refined by colour.
    ``tiles``: the sheet's tiled probabilities (any grid of its aspect), whose thin parts are
    added to the frame's (:func:`herbseg.model.tiles.with_thin_parts`)."""
    doubt = mask_doubt(prob)  # on the frame, the network's own grid
    geom = Geometry.from_row(row)
    w, h = output_size(geom.sheet_w, geom.sheet_h, long_side)
    per_frame_px = max(w / geom.box_w, h / geom.box_h)  # grid pixels per frame pixel
    band = band_px(refine, per_frame_px) if refine and sheet_path else 0
    size = (geom.sheet_w, geom.sheet_h)
    if not band and tiles is None:  # the mask alone: interpolated only along its outlines
        mask = frame_to_sheet(prob, geom, w, h, threshold)
        return write_mask_row(mask, row["sheet_id"], out_dir, size, doubt), False
    grid = frame_to_grid(prob, geom, w, h)
    if tiles is not None:
        r = refine or RefineSettings()
        if tiles.shape != grid.shape:
            tiles = np.asarray(Image.fromarray(tiles).resize((w, h), Image.Resampling.BILINEAR))
        grid = with_thin_parts(
            grid, tiles, width=r.thin_width * per_frame_px,
            faint=r.thin, threshold=threshold,
        )  # fmt: skip
    if not band:
        return write_mask_row(grid >= threshold, row["sheet_id"], out_dir, size, doubt), False

    def sheet_rgb() -> np.ndarray | None:
        try:
            rgb = load_rgb(sheet_path, min_size=(w, h), max_megapixels=max_megapixels)
        except SheetError:
            return None  # the frame was made from this sheet; unreadable now: keep the net's mask
        return image_to_grid(rgb, w, h)

    return write_prediction(
        grid, row["sheet_id"], out_dir, size, threshold=threshold,
        band=band, refine=refine, sheet_rgb=sheet_rgb, doubt=doubt,
    )  # fmt: skip


def _tiled(
    model: Network,
    row: dict,
    path: str,
    settings: TileSettings,
    device: torch.device,
    amp: bool,
    channels_last: bool,
    max_megapixels: float,
) -> np.ndarray | None:
    """The sheet's tiled probabilities for :func:`_write`; None when the sheet cannot be read
    (its frame was made from it, so the frame's answer is kept)."""
    geom = Geometry.from_row(row)
    try:
        work = working_sheet(path, geom.sheet_w, geom.sheet_h, settings, max_megapixels)
    except (SheetError, OSError):
        return None
    return tiled_proba(model, work, device, settings, amp=amp, channels_last=channels_last)


def predict_shard(
    model: Network,
    resized: pd.DataFrame,
    out_dir: Path,
    *,
    device: torch.device,
    batch_size: int = 8,
    long_side: int | None = None,
    threshold: float = 0.5,
    amp: bool = True,
    channels_last: bool = True,
    threads: int = 1,
    sheets: pd.DataFrame | None = None,
    refine: RefineSettings | None = None,
    tta: bool = False,
    tiles: TileSettings | None = None,
    max_megapixels: float = DEFAULT_MAX_MEGAPIXELS,
    seen: Callable[[np.ndarray], None] | None = None,
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Predict all ``ok`` rows of a shard's resize table; one output row per ``ok`` row, in order.

    Rows that failed earlier are left out: their status already travels in the shard list, and a
    duplicate sheet id must not appear twice here. A frame that cannot be read becomes an
    ``error`` row instead of ending the job, so the other sheets of the shard are kept.
    With ``sheets`` (the shard's manifest rows: ``sheet_id``, ``path``) and ``refine``, each mask's
    outline is re-decided by the sheet's own colours (:mod:`herbseg.measurement.refine`). ``tta``
    averages
    the network over flipped frames (:func:`herbseg.model.infer.predict_proba`). With ``tiles``
    (and ``sheets``), each sheet is also predicted in tiles at a higher resolution, whose thin
    parts are added to the frame's (``predict.tiles``, :mod:`herbseg.model.tiles`).
    ``max_megapixels`` is ingest's limit, for reading the sheets again. ``seen`` is given each
    frame that was read (:func:`predict_masks` counts the greyscale ones).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    todo = resized[resized["status"] == "ok"].to_dict("records")
    batch_size = max(1, batch_size)
    batches = list(_batches(todo, batch_size))
    # Masks waiting to be written hold a frame of probabilities each (1 MB at 512 px); a few
    # batches' worth keeps the encoders busy without letting a slow disk grow the backlog.
    max_writes = max(2 * batch_size, 2 * threads)
    done: dict[str, dict] = {}
    n_refined = 0
    paths = {}
    if sheets is not None and ((refine is not None and refine.enabled) or tiles is not None):
        paths = dict(zip(sheets["sheet_id"].astype(str), sheets["path"]))
    progress = Progress(len(todo), log, "predicted")
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        loads: deque[list[Future]] = deque()
        writes: deque[Future] = deque()

        def submit_load(i: int) -> None:
            if i < len(batches):
                loads.append([pool.submit(_load, r) for r in batches[i]])

        for i in range(PREFETCH_BATCHES):
            submit_load(i)
        for i, batch in enumerate(batches):
            frames = [f.result() for f in loads.popleft()]
            submit_load(i + PREFETCH_BATCHES)
            good = [(r, a) for r, a in zip(batch, frames) if not isinstance(a, str)]
            for r, a in zip(batch, frames):
                if isinstance(a, str):
                    done[r["sheet_id"]] = _failed(r, a)
            if seen is not None:
                for _, a in good:
                    seen(a)
            if good:
                probs = predict_proba(
                    model,
                    np.stack([a for _, a in good]),
                    device,
                    amp=amp,
                    channels_last=channels_last,
                    tta=tta,
                )
                for p, (r, _) in zip(probs, good):
                    path = paths.get(str(r["sheet_id"]))
                    tiled = None
                    if tiles is not None and path:
                        tiled = _tiled(model, r, path, tiles, device, amp, channels_last,
                                       max_megapixels)  # fmt: skip
                    edge_path = path if refine is not None and refine.enabled else None
                    args = (p, r, out_dir, long_side, threshold, edge_path, refine,
                            max_megapixels, tiled)  # fmt: skip
                    writes.append(pool.submit(_write, *args))
            while len(writes) > max_writes:
                row, refined = writes.popleft().result()
                done[row["sheet_id"]] = row
                n_refined += refined
            progress.update(len(batch))
        for f in writes:
            row, refined = f.result()
            done[row["sheet_id"]] = row
            n_refined += refined
    rows = [done[r["sheet_id"]] for r in todo]
    if paths and refine is not None and refine.enabled:
        log(
            f"edges refined by colour on {n_refined} of {len(rows)} masks (the rest: colours "
            "did not separate leaf from paper, or the mask is no finer than the frame)"
        )
    failed = sum(r["status"] != "ok" for r in rows)
    if failed:
        log(f"{failed} of {len(rows)} frames could not be read; their rows say why")
    return pd.DataFrame(rows, columns=PREDICT_COLUMNS)


class GreyCount:
    """How many of the sheets a job was given are greyscale. A model that saw colour frames only
    misses about a sixth of the plant on them (BENCHMARKS.md, "Greyscale scans"), which its masks
    do not show: the job says so once, whichever way the sheets were predicted."""

    def __init__(self) -> None:
        self.grey = 0

    def __call__(self, rgb: np.ndarray) -> None:
        self.grey += is_greyscale(rgb)

    def warning(self, sheets: int) -> str | None:
        """The line to log for a job of ``sheets`` sheets, or None when none was grey."""
        if not self.grey:
            return None
        return (
            f"warning: {self.grey} of {sheets} sheets are greyscale, and this model saw colour "
            "frames only (its card's train.augment.grey is 0): such a model misses about a sixth "
            'of the plant on grey sheets (BENCHMARKS.md, "Greyscale scans"); for a collection '
            "scanned in grey, train with train.augment.grey: 0.2"
        )


def predict_masks(
    net: Network,
    resized: pd.DataFrame,
    sheets: pd.DataFrame,
    masks: Path,
    p: PredictSettings,
    card: dict,
    *,
    device: torch.device,
    threads: int,
    max_megapixels: float,
    log: Callable[[str], None],
) -> pd.DataFrame:
    """The masks of a shard as the ``predict:`` settings ``p`` say, for the model whose card is
    ``card`` (what it marks, whether it saw grey frames): one frame per sheet, with
    ``predict.tiles`` the thin parts of tiles added, or (``mode: replace``) the tiles alone. The
    rule and ``herbseg predict`` both come here."""
    grey = None if trained_on_grey(card) else GreyCount()
    common = dict(device=device, batch_size=p.batch_size, long_side=p.long_side,
                  threshold=p.threshold, amp=p.amp, channels_last=p.channels_last,
                  refine=p.refine_for(card.get("mask_class")), max_megapixels=max_megapixels,
                  seen=grey, log=log)  # fmt: skip
    if p.tiles.enabled and p.tiles.mode == "replace":
        table = predict_tiled_shard(net, sheets, masks, p.tiles, **common)
    else:
        tiles = p.tiles if p.tiles.enabled else None
        table = predict_shard(net, resized, masks, threads=threads, sheets=sheets, tta=p.tta,
                              tiles=tiles, **common)  # fmt: skip
    warning = grey.warning(len(table)) if grey is not None else None
    if warning:
        log(warning)
    return table


# Frames the bf16/int8 agreement check (and int8 calibration) runs on: a few seconds on 2 cores.
AGREEMENT_FRAMES = 8


def for_this_cpu(
    model: torch.nn.Module,
    resized: pd.DataFrame,
    p: PredictSettings,
    threads: int,
    log: Callable[[str], None],
    model_dir: str | os.PathLike,
) -> Network:
    """The network a CPU job runs (:func:`herbseg.model.runtime.cpu_network`); bf16 is checked
    against fp32 on the shard's first readable frames, with the job's own TTA and threshold. The
    OpenVINO conversion is shared by every job of the model in ``model_dir`` (its weights' sha256).
    """

    def sample() -> np.ndarray:
        frames = []
        for row in resized[resized["status"] == "ok"].to_dict("records"):
            frame = _load(row)
            if not isinstance(frame, str):
                frames.append(frame)
            if len(frames) == AGREEMENT_FRAMES:
                break
        return np.stack(frames) if frames else np.zeros((0, 1, 1, 3), np.uint8)

    def forward(net: Network, frames: np.ndarray) -> np.ndarray:
        cpu = torch.device("cpu")
        return predict_proba(net, frames, cpu, amp=False, channels_last=p.channels_last, tta=p.tta)

    return cpu_network(
        model, runtime=p.cpu_runtime, precision=p.cpu_precision, threads=threads,
        sample=sample, threshold=p.threshold, min_agreement=p.cpu_min_agreement,
        predict=forward, log=log, cache_key=lambda: weights_sha256(model_dir),
    )  # fmt: skip


def run(inputs, outputs, params, *, threads: int, log: Callable[[str], None]) -> None:
    """Rule predict: the masks of one shard (``inputs.model``, ``.table``, ``.sheets``)."""
    p = settings_from(PredictSettings, params.predict, "predict")
    torch.set_num_threads(threads)
    device = resolve_device(p.device)
    model = load_model(Path(inputs.model), device)
    resized = read_table(inputs.table, "frames")
    # The frames must be those the model was trained on (its card; start-up already checked).
    card = read_card(inputs.model)
    ok = resized.loc[resized["status"] == "ok", ["frame", "mode"]]
    for frame, mode in ok.drop_duplicates().values:
        check_frames(card, int(frame), str(mode), inputs.table)
    sheets = read_table(inputs.sheets, "text")
    cpu = device.type == "cpu"
    net = for_this_cpu(model, resized, p, threads, log, inputs.model) if cpu else model
    table = predict_masks(net, resized, sheets, Path(outputs.masks), p, card,
                          device=device, threads=threads, max_megapixels=params.max_megapixels,
                          log=log)  # fmt: skip
    write_csv(table, outputs.table)
