import os
import time

import pandas as pd
import pytest

from herbseg.io.sheets import discover_sheets
from herbseg.stages.ingest import assign_shards, ingest, match_masks
from tests.helpers import write_mask_file, write_sheet


def _collection(root):
    write_sheet(root / "sheets" / "inst_a" / "IMG_0001.jpg")
    write_sheet(root / "sheets" / "inst_b" / "IMG_0001.jpg", seed=1)
    write_sheet(root / "sheets" / "inst_b" / "leaf.PNG", fmt="PNG")
    (root / "sheets" / "notes.txt").write_text("not a sheet")
    (root / "sheets" / "broken.jpg").write_text("garbage")
    write_mask_file(root / "masks" / "leaf_mask.png")
    write_mask_file(root / "masks" / "orphan_mask.png")
    return root


def test_folder_ids_are_unique_per_relative_path(tmp_path):
    sheets = discover_sheets(_collection(tmp_path) / "sheets")
    assert sorted(sheets["sheet_id"]) == [
        "broken", "inst_a__IMG_0001", "inst_b__IMG_0001", "inst_b__leaf"]  # fmt: skip


def test_csv_list_carries_extra_columns(tmp_path):
    _collection(tmp_path)
    csv = tmp_path / "list.csv"
    pd.DataFrame({"path": ["sheets/inst_a/IMG_0001.jpg"], "catalogNumber": ["K000123"]}).to_csv(
        csv, index=False
    )
    sheets = discover_sheets(csv)
    assert sheets.loc[0, "catalogNumber"] == "K000123"
    assert os.path.exists(sheets.loc[0, "path"])


def test_masks_match_by_stem_and_orphans_are_reported(tmp_path):
    root = _collection(tmp_path)
    sheets = discover_sheets(root / "sheets")
    found, problems = match_masks(sheets, root / "masks")
    assert list(found) == ["inst_b__leaf"]
    assert [p["status"] for p in problems] == ["unmatched"]


def test_ingest_accounts_for_every_file(tmp_path):
    root = _collection(tmp_path)
    manifest, problems, shards = ingest(
        str(root / "sheets"),
        str(root / "masks"),
        tmp_path / "out",
        shard_size=2,
        log=lambda m: None,
    )
    assert len(manifest) == 4
    row = manifest.set_index("sheet_id").loc["broken"]
    assert row["status"] == "error" and row["error"] == "unsupported format"
    assert manifest.set_index("sheet_id").loc["inst_b__leaf", "has_mask"]
    assert len(manifest.loc[0, "sha256"]) == 64
    assert set(problems["kind"]) == {"sheet", "annotation", "skipped"}  # notes.txt is counted
    # the annotated sheet has a shard of its own kind; all sheets are in exactly one shard
    assert manifest.set_index("sheet_id").loc["inst_b__leaf", "shard"] == "a00000"
    assert shards["n_sheets"].sum() == 4
    files = sorted(p.name for p in (tmp_path / "out" / "shards").iterdir())
    assert files == [f"{s}.csv" for s in shards["shard"]]


def test_shards_are_sticky_and_unchanged_files_keep_their_mtime(tmp_path):
    root = tmp_path / "c"
    for i in range(6):
        write_sheet(root / f"s{i}.jpg", 40, 60, seed=i)
    out = tmp_path / "out"
    ingest(str(root), None, out, shard_size=3, log=lambda m: None)
    before = {p.name: p.stat().st_mtime_ns for p in (out / "shards").iterdir()}
    assert sorted(before) == ["c00000.csv", "c00001.csv"]
    time.sleep(0.01)
    write_sheet(root / "a_new.jpg", 40, 60, seed=9)  # sorts first: must not shift other shards
    os.remove(root / "s4.jpg")
    manifest, _, shards = ingest(str(root), None, out, shard_size=3, log=lambda m: None)
    after = {p.name: p.stat().st_mtime_ns for p in (out / "shards").iterdir()}
    assert after["c00000.csv"] == before["c00000.csv"]
    assert after["c00001.csv"] != before["c00001.csv"]
    assert manifest.set_index("sheet_id").loc["a_new", "shard"] == "c00001"


def test_assign_shards_opens_new_shards_when_full():
    manifest = pd.DataFrame(
        {"sheet_id": [f"s{i}" for i in range(5)], "has_mask": False, "status": "ok"}
    )
    shards = assign_shards(manifest, {"s0": "c00003"}, shard_size=2)
    assert shards.tolist() == ["c00003", "c00003", "c00000", "c00000", "c00001"]


def test_permission_denied_is_a_row_not_a_crash(tmp_path, monkeypatch):
    root = tmp_path / "s"
    write_sheet(root / "a.jpg")
    write_sheet(root / "locked.jpg")
    real_open = open

    def guarded(path, *args, **kwargs):
        if str(path).endswith("locked.jpg"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", guarded)
    for checksum in (True, False):
        manifest, problems, _ = ingest(str(root), None, tmp_path / "out", checksum=checksum,
                                       log=lambda m: None)  # fmt: skip
        rows = manifest.set_index("sheet_id")
        assert rows.loc["locked", "status"] == "error"
        assert rows.loc["locked", "error"] == "permission denied"
        assert rows.loc["a", "status"] == "ok"
        assert list(problems["sheet_id"]) == ["locked"]


def test_mask_aspect_mismatch_is_reported_and_unreadable_masks_detached(tmp_path):
    root = tmp_path / "s"
    for name in ("same", "squashed", "bigger", "broken"):
        write_sheet(root / f"{name}.jpg", 120, 180)
    write_mask_file(tmp_path / "m" / "same_mask.png", 60, 90)  # smaller, same shape: fine
    write_mask_file(tmp_path / "m" / "bigger_mask.png", 122, 180)  # 1.7 % off: within 5 %
    write_mask_file(tmp_path / "m" / "squashed_mask.png", 256, 384 * 3 // 4)
    (tmp_path / "m" / "broken_mask.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    logs: list[str] = []
    manifest, problems, _ = ingest(str(root), str(tmp_path / "m"), tmp_path / "out",
                                   log=logs.append)  # fmt: skip
    notes = problems.set_index("sheet_id")
    assert set(notes.index) == {"squashed", "broken"}
    assert notes.loc["squashed", "status"] == "aspect_mismatch"
    assert "w/h 0.889" in notes.loc["squashed", "error"]
    assert "w/h 0.667" in notes.loc["squashed", "error"]
    assert "stretched onto the sheet" in notes.loc["squashed", "error"]
    assert notes.loc["broken", "status"] == "error"
    assert notes.loc["broken", "error"].startswith("mask unusable")
    rows = manifest.set_index("sheet_id")
    assert rows["has_mask"].to_dict() == {"bigger": True, "broken": False, "same": True,
                                          "squashed": True}  # fmt: skip
    assert "found 4, ok 4, error 0, duplicate 0" in logs[-1]
    _, strict, _ = ingest(str(root), str(tmp_path / "m"), tmp_path / "out2",
                          mask_aspect_tolerance=0.01, log=lambda m: None)  # fmt: skip
    assert "bigger" in set(strict.loc[strict["status"] == "aspect_mismatch", "sheet_id"])


def test_csv_id_column_and_clashing_columns(tmp_path):
    write_sheet(tmp_path / "a.jpg")
    write_sheet(tmp_path / "b.jpg")
    csv = tmp_path / "list.csv"
    pd.DataFrame(
        {"path": ["a.jpg", "b.jpg"], "barcode": ["E001", ""], "status": ["loaned", "home"]}
    ).to_csv(csv, index=False)
    sheets = discover_sheets(csv, id_column="barcode")
    assert list(sheets["sheet_id"]) == ["E001", "b"]  # an empty cell: the path rule
    manifest, _, _ = ingest(str(csv), None, tmp_path / "out", id_column="barcode",
                            log=lambda m: None)  # fmt: skip
    assert list(manifest["status"]) == ["ok", "ok"]
    assert list(manifest["source_status"]) == ["loaned", "home"]  # the list's own column kept
    with pytest.raises(ValueError, match="id_column"):
        discover_sheets(tmp_path, id_column="barcode")  # a folder has no columns


def test_violaceae_masks_are_squashed_and_reported(shared_data, tmp_path):
    images = shared_data / "violaceae" / "images" / "V01"
    masks = shared_data / "violaceae" / "masks"
    manifest, problems, _ = ingest(
        str(images), str(masks), tmp_path / "out", checksum=False, log=lambda m: None
    )
    annotated = manifest[manifest["has_mask"]]
    ratio = annotated["width"] / annotated["height"]
    off = annotated.loc[(ratio / (256 / 384) - 1).abs() > 0.05, "sheet_id"]  # the 3:4 sheets
    assert len(off) >= 1
    squashed = problems[problems["status"] == "aspect_mismatch"]
    assert set(squashed["sheet_id"]) == set(off)
    assert squashed["error"].str.contains("256×384").all()
