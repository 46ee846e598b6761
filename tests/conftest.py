"""Shared fixtures: small generated images, and the repository's sibling ``shared/`` data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture
def shared_data() -> Path:
    """The read-only real sheets beside the repository; tests using it skip where it is absent."""
    data = SHARED / "data"
    if not data.is_dir():
        pytest.skip("../shared/data is not present")
    return data


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
    arr = np.zeros((h, w), np.uint8)
    arr[h // 4 : h // 2, w // 4 : w // 2] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, format=fmt)
    return path
