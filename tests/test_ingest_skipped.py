"""Nothing under a sheets folder is skipped in silence, and the default extensions cover every
raster format the image reader decodes."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from PIL import Image

from herbseg.io.images import load_rgb, probe
from herbseg.io.sheets import DEFAULT_EXTENSIONS
from herbseg.stages.ingest import ingest
from tests.helpers import REPO, write_sheet

# What Pillow writes for each extension (the others are aliases of one of these formats).
WRITERS = {".jpg": "JPEG", ".jpe": "JPEG", ".jfif": "JPEG", ".jpeg": "JPEG", ".png": "PNG",
           ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP", ".jp2": "JPEG2000",
           ".j2k": "JPEG2000", ".jpf": "JPEG2000", ".jpx": "JPEG2000", ".bmp": "BMP",
           ".dib": "BMP", ".gif": "GIF", ".pnm": "PPM", ".ppm": "PPM", ".pgm": "PPM",
           ".pbm": "PPM", ".tga": "TGA"}  # fmt: skip


def test_schema_default_is_the_module_default():
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    default = schema["properties"]["ingest"]["properties"]["extensions"]["default"]
    assert tuple(default) == DEFAULT_EXTENSIONS


@pytest.mark.parametrize("ext", DEFAULT_EXTENSIONS)
def test_every_default_extension_is_read(tmp_path, ext):
    rgb = np.zeros((30, 20, 3), np.uint8)
    rgb[5:15, 4:12] = (40, 140, 60)
    path = tmp_path / f"sheet{ext}"
    mode = "L" if ext in (".pgm", ".pbm") else "RGB"
    Image.fromarray(rgb).convert(mode).save(path, format=WRITERS[ext])
    info = probe(path, 400)
    assert (info.width, info.height) == (20, 30)
    assert load_rgb(path).shape == (30, 20, 3)


def test_files_ingest_does_not_take_are_counted_by_extension(tmp_path):
    sheets = tmp_path / "sheets"
    write_sheet(sheets / "a.jpg")
    write_sheet(sheets / "sub" / "b.JP2", fmt="JPEG2000", dpi=None)
    for name in ("notes.txt", "more.TXT", "scan.cr2", "README", ".DS_Store", "sub/Thumbs.db",
                 "sub/._a.jpg"):  # fmt: skip
        (sheets / name).write_bytes(b"x")
    logged: list[str] = []
    manifest, problems, _ = ingest(str(sheets), None, tmp_path / "out", log=logged.append)
    assert sorted(manifest["sheet_id"]) == ["a", "sub__b"]
    skipped = problems[problems["kind"] == "skipped"]
    assert dict(zip(skipped["error"].str.split(" not taken").str[0], skipped["status"])) == {
        "2 files .txt": "skipped",
        "1 file .cr2": "skipped",
        "1 file (no extension)": "skipped",
        "1 file .DS_Store (OS debris)": "skipped",
        "1 file Thumbs.db (OS debris)": "skipped",
        "1 file ._* (OS debris)": "skipped",
    }
    assert set(skipped["path"]) == {str(sheets)}
    line = next(m for m in logged if m.startswith("not taken"))
    assert line.startswith("not taken as sheets (7 files):") and "2 .txt" in line
