"""The synthetic collection as a GBIF download: a Darwin Core Archive beside its images.

Most collections reach herbseg as a GBIF or IPT export: occurrence records with catalogue numbers,
and a multimedia table whose rows point at images by URL. The demo ships its sheets the same way,
so the demo's run shows what a real one gives back: catalogue numbers on every table, specimens
imaged on two sheets rolled up in ``specimens.csv``, and a MeasurementOrFact archive that links to
these occurrences. Nothing here is random: the same sheets give the same archive.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from herbseg.io.dwca import MULTIMEDIA_ROW_TYPE, write_archive

# Every EVERY-th sheet shows the same specimen as the sheet before it (a second image of one
# herbarium specimen, e.g. of its reverse or a fragment packet): the demo's 48 sheets are 42
# specimens.
EVERY = 8
MEDIA_URL = "https://media.herbseg.example/demo/{name}"
GBIF_ID_BASE = 4_100_000_000


def specimen_of(n_sheets: int) -> list[int]:
    """The specimen index of each sheet, in sheet order."""
    out: list[int] = []
    for i in range(n_sheets):
        out.append(out[-1] if i % EVERY == EVERY - 1 else (out[-1] + 1 if out else 0))
    return out


def write_collection_archive(out_dir: Path, image_names: list[str]) -> pd.DataFrame:
    """Write ``occurrence.txt``, ``multimedia.txt`` and ``meta.xml`` into ``out_dir`` for the
    sheet images ``image_names`` (file names, in sheet order); returns the multimedia table.

    The multimedia rows name each image by URL only, as a download does, and by ``title`` (the
    sheet's file stem, which the demo uses as its sheet id: ``ingest.id_column: title``);
    catalogue numbers keep their leading zeros, as real ones do.
    """
    specimens = specimen_of(len(image_names))
    n = specimens[-1] + 1 if specimens else 0
    gbif = [str(GBIF_ID_BASE + k) for k in range(n)]
    catalogue = [f"HSD{k + 1:06d}" for k in range(n)]
    core = pd.DataFrame(
        {"gbifID": gbif, "occurrenceID": [f"urn:catalog:HERBSEG:DEMO:{c}" for c in catalogue],
         "catalogNumber": catalogue, "institutionCode": "HERBSEG", "collectionCode": "DEMO",
         "basisOfRecord": "PreservedSpecimen", "scientificName": "Folium syntheticum Demo"}
    )  # fmt: skip
    media = pd.DataFrame(
        {"gbifID": [gbif[k] for k in specimens], "type": "StillImage", "format": "image/jpeg",
         "identifier": [MEDIA_URL.format(name=name) for name in image_names],
         "title": [Path(name).stem for name in image_names], "license": "CC0-1.0"}
    )  # fmt: skip
    write_archive(out_dir, core, {"multimedia.txt": (MULTIMEDIA_ROW_TYPE, media)})
    return media
