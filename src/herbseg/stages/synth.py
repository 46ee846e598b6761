"""Rule synth: generate the synthetic demo collection into the folders the config names.

The generators live in :mod:`herbseg.synth.sheets` (leaf masks, the demo) and
:mod:`herbseg.synth.plant` (whole-plant masks: stems, roots, flowers); ``model.mask_class`` picks
one, so the sheets are drawn to match what the model is to learn. Either way the sheets also get
a Darwin Core Archive (``dwca/``, :mod:`herbseg.synth.archive`), the way most collections hand
their images over.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from herbseg.config.settings import settings_from
from herbseg.synth.archive import write_collection_archive
from herbseg.synth.plant import generate_plant_collection
from herbseg.synth.sheets import generate_collection


@dataclass(frozen=True)
class SynthSettings:
    """The ``synth:`` config section."""

    enabled: bool = False
    n_sheets: int = 40
    seed: int = 2021
    width: int = 2000
    height: int = 3000
    dpi: float = 300
    truth: str = "demo/truth.csv"
    scale_kinds: tuple[str, ...] = ("ticks",)
    damage: float = 0


def run(inputs, outputs, params, *, threads: int, log: Callable[[str], None]) -> None:
    """Write ``sheets/``, ``masks/``, ``dwca/`` and ``truth.csv`` into one folder, which must be
    the one the config's ``sheets`` (the images or the archive), ``annotations`` and
    ``synth.truth`` name."""
    s = settings_from(SynthSettings, params.synth, "synth")
    out = Path(outputs.sheets).parent
    size = dict(width=s.width, height=s.height, dpi=s.dpi, workers=threads)
    if params.mask_class == "plant":  # whole plants marked (stems, roots), real leaf colours
        truth = generate_plant_collection(out, s.n_sheets, s.seed, **size)
    else:
        truth = generate_collection(
            out, s.n_sheets, s.seed, **size, scale_kinds=s.scale_kinds, damage=s.damage
        )
    images = {p.stem: p.name for p in (out / "sheets").iterdir()}
    write_collection_archive(out / "dwca", [images[sid] for sid in truth["sheet_id"]])
    for name, target in (
        ("sheets", outputs.sheets),
        ("masks", outputs.masks),
        ("dwca", outputs.archive),
        ("truth.csv", outputs.truth),
    ):
        if Path(out / name).resolve() != Path(target).resolve():
            raise ValueError(f"synth writes {out / name}, but the config names {target}")
    log(f"generated {len(truth)} sheets into {out}")
