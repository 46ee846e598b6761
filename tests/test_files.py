"""Atomic writes: complete or absent, never half a file, and loud when the disk is full."""

from __future__ import annotations

import errno
import os
import subprocess

import pandas as pd
import pytest

from herbseg.io.files import (
    atomic_dir,
    atomic_open,
    atomic_path,
    atomic_write_bytes,
    remove_stale_temps,
    write_csv,
    write_if_changed,
)


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_open(target, "w") as f:
        f.write("half a ta")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]


def test_temp_keeps_the_extension_and_lands_whole(tmp_path):
    target = tmp_path / "sub" / "mask.png"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp.suffix == ".png" and tmp.name.startswith(".")
        assert not target.exists()
        tmp.write_bytes(b"png")
    assert target.read_bytes() == b"png"
    assert oct(target.stat().st_mode & 0o777) != oct(0o600)  # not mkstemp's private mode


def test_write_csv_and_write_if_changed(tmp_path):
    write_csv(pd.DataFrame({"sheet_id": ["a", "b"]}), tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text() == "sheet_id\na\nb\n"
    assert write_if_changed(tmp_path / "x", b"1")
    mtime = (tmp_path / "x").stat().st_mtime_ns
    assert not write_if_changed(tmp_path / "x", b"1")
    assert (tmp_path / "x").stat().st_mtime_ns == mtime


def test_atomic_dir_replaces_a_folder_whole(tmp_path):
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "old.txt").write_text("old")
    with pytest.raises(ValueError), atomic_dir(tmp_path / "bundle") as tmp:
        (tmp / "new.txt").write_text("new")
        raise ValueError
    assert [p.name for p in (tmp_path / "bundle").iterdir()] == ["old.txt"]
    with atomic_dir(tmp_path / "bundle") as tmp:
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in (tmp_path / "bundle").iterdir()] == ["new.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle"]


def test_remove_stale_temps_only_touches_that_name(tmp_path):
    (tmp_path / ".checkpoint.ab12.tmp.pt").write_bytes(b"x")
    (tmp_path / ".checkpoint.pt.tmp.123").write_bytes(b"x")  # the old naming
    (tmp_path / ".history.cd.tmp.csv").write_bytes(b"x")
    assert remove_stale_temps(tmp_path, "checkpoint.pt") == 2
    assert [p.name for p in tmp_path.iterdir()] == [".history.cd.tmp.csv"]


def test_full_disk_fails_loudly_and_keeps_the_old_file(tmp_path):
    """A real full filesystem (a 1 MiB tmpfs; needs root): ENOSPC reaches the caller."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)])
    if mount.returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        atomic_write_bytes(mnt / "model.bin", b"v1")
        with pytest.raises(OSError) as err:
            atomic_write_bytes(mnt / "model.bin", b"\0" * 2 * 2**20)
        assert err.value.errno == errno.ENOSPC
        assert (mnt / "model.bin").read_bytes() == b"v1"
        assert [p.name for p in mnt.iterdir()] == ["model.bin"]
        atomic_write_bytes(mnt / "model.bin", b"v2")  # space is back
        assert (mnt / "model.bin").read_bytes() == b"v2"
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
