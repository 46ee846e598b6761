"""Atomic file writes: a file is either its old self or complete, never half-written.

A job killed mid-write (SIGKILL, a node dying, a full disk) must not leave a table, mask,
checkpoint or bundle that looks finished: Snakemake trusts files that exist, and a later rerun
would build on the truncated one. Every writer goes through a temporary file in the *same*
folder (so the final ``os.replace`` is a rename on one filesystem, which POSIX makes atomic),
fsyncs it, and only then renames it into place. A write that fails (``ENOSPC``, an exception in
the writer) removes its temporary file and re-raises, so the error is loud and nothing is left
behind; a killed process leaves at most a dot-file named ``.NAME.*.tmp*``, which
:func:`remove_stale_temps` clears.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

TEMP_MARK = ".tmp"


def _temp_name(path: Path) -> tuple[str, str]:
    """Prefix and suffix for a temp file beside ``path``; the suffix keeps the extension, since
    image writers choose the format by it."""
    return f".{path.stem}.", f"{TEMP_MARK}{path.suffix}"


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (a crash right after it must not undo it)."""
    with contextlib.suppress(OSError):  # not every filesystem lets a folder be opened
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on a clean exit it is fsynced and renamed onto it.

    For writers that want a path rather than a file object (``DataFrame.to_csv``, PIL, zipfile).
    The temporary file keeps ``path``'s extension.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix, suffix = _temp_name(path)
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        _fsync_file(tmp)
        _keep_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _keep_mode(tmp: Path) -> None:
    """mkstemp makes files private (0600); outputs get the umask's usual 0644-like mode."""
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o666 & ~umask)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb", **kwargs: Any) -> Iterator[IO]:
    """``open`` for writing, atomically: the file appears complete on a clean exit, else never."""
    if not mode.startswith("w"):
        raise ValueError(f"atomic_open writes whole files; mode {mode!r} is not a 'w' mode")
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as f:
        yield f
        f.flush()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    with atomic_open(path, "w", encoding=encoding, newline="") as f:
        f.write(text)


def write_if_changed(path: str | os.PathLike, data: bytes) -> bool:
    """Write atomically unless the file already holds ``data``; an untouched file keeps its mtime,
    so Snakemake does not rerun what depends on it. Returns whether it wrote."""
    path = Path(path)
    with contextlib.suppress(OSError):
        if path.read_bytes() == data:
            return False
    atomic_write_bytes(path, data)
    return True


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on a clean exit it replaces ``path`` whole.

    There is a moment in which ``path`` is missing (two renames), but never one in which it holds
    a mixture of the old and the new contents.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=TEMP_MARK, dir=path.parent))
    try:
        yield tmp
        # the umask's usual modes: mkdtemp (and safetensors) make them private
        umask = os.umask(0)
        os.umask(umask)
        for f in tmp.rglob("*"):
            if f.is_file():
                f.chmod(0o666 & ~umask)
                _fsync_file(f)
        tmp.chmod(0o777 & ~umask)
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old.{os.getpid()}{TEMP_MARK}")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def remove_stale_temps(folder: str | os.PathLike, name: str) -> int:
    """Delete temp files/folders a killed writer of ``name`` left in ``folder``; returns how many.

    Only call it where no other process writes ``name`` at the same time (a job's own outputs).
    """
    folder, stem = Path(folder), Path(name).stem
    n = 0
    for p in folder.glob(f".{stem}.*{TEMP_MARK}*"):
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        n += 1
    return n


def write_csv(table: Any, path: str | os.PathLike, **kwargs: Any) -> None:
    """``table.to_csv(path, index=False)``, atomically: a killed job never leaves half a table."""
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, **kwargs)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Streamed, so a 500 MB TIFF never sits in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def user_cache_dir() -> Path:
    """herbseg's folder in the user's cache (``$HERBSEG_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/herbseg``, else ``~/.cache/herbseg``): things slow to compute and safe to
    recompute, each a pure function of its name (the encoder names of an smp version, a model's
    OpenVINO conversion), so deleting the folder costs time, never results."""
    if own := os.environ.get("HERBSEG_CACHE_DIR"):
        return Path(own)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "herbseg"
