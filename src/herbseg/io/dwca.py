"""Darwin Core Archive multimedia tables as a sheet list: GBIF and iDigBio exports, used offline.

A collection's images are usually known to the world as rows of a DwC-A ``multimedia`` table: one
row per image, pointing at it by URL and at its occurrence record by ``coreid``/``gbifID``. This
module turns such a table into sheet rows whose files are found locally (nothing is downloaded)
and keeps every column, so each measurement can be joined back to its occurrence record. A row
whose image cannot be found keeps its place with the reason, so no record is silently dropped.

python-dwca-reader does the Darwin Core part (meta.xml, zipped archives and GBIF download zips);
what is herbseg's own is reading the tables with every column kept (undeclared header columns,
two namespaces' terms sharing a short name, a multimedia file with no meta.xml at all) and matching
media rows to local files. Writing (:func:`write_archive`) is the plain text format GBIF's IPT
takes: the measurement export and the demo's own archive use it.
"""

from __future__ import annotations

import csv
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd
from dwca.descriptors import ArchiveDescriptor, DataFileDescriptor

from herbseg.io.files import atomic_open, write_csv

# Terms an image row is found by, in the order they are tried: GBIF puts the media URL in
# dc:identifier, Audubon Core (iDigBio) in ac:accessURI.
MEDIA_TERMS = ("identifier", "accessURI")
# Occurrence columns joined onto each image row when the archive has its core table beside it,
# so a GBIF download (whose multimedia.txt lacks them) still yields catalogue numbers.
CORE_TERMS = (
    "catalogNumber", "occurrenceID", "institutionCode", "collectionCode", "scientificName",
)  # fmt: skip
OCCURRENCE_ROW_TYPE = "http://rs.tdwg.org/dwc/terms/Occurrence"
MULTIMEDIA_ROW_TYPE = "http://rs.gbif.org/terms/1.0/Multimedia"
MOF_ROW_TYPE = "http://rs.tdwg.org/dwc/terms/MeasurementOrFact"
DWC = "http://rs.tdwg.org/dwc/terms/"
# Terms written outside the Darwin Core namespace: GBIF's own, and the Dublin Core terms of
# GBIF's simple multimedia extension.
TERM_URIS = {
    "gbifID": "http://rs.gbif.org/terms/1.0/gbifID",
    **{t: f"http://purl.org/dc/terms/{t}"
       for t in ("type", "format", "identifier", "title", "license", "creator", "references")},
}  # fmt: skip
MULTIMEDIA_NAMES = ("multimedia.txt", "multimedia.csv", "multimedia.tsv")
TABLE_SUFFIXES = (".txt", ".csv", ".tsv")
ERROR = "error"  # the column of rows that already failed here (not found, ambiguous, not an image)
MEDIA_NAME = "media_name"  # the file name the row refers to, for sheet ids of unfound files
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class MetaError(ValueError):
    """A meta.xml that does not describe a Darwin Core Archive."""


@dataclass(frozen=True)
class TableSpec:
    """How one delimited DwC-A file is laid out (from meta.xml, or sniffed from its header)."""

    path: Path
    sep: str = "\t"
    quote: str = ""
    header_lines: int = 1
    encoding: str = "utf-8"
    fields: dict[int, str] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)
    id_index: int | None = None
    row_type: str = ""


def short_term(term: str) -> str:
    """``http://purl.org/dc/terms/identifier`` and ``ac:accessURI`` are matched by their last part,
    as exports differ in whether headers carry namespaces."""
    return re.split(r"[/#:]", term.strip())[-1]


def _spec(descriptor: DataFileDescriptor, folder: Path) -> TableSpec:
    """A python-dwca-reader file descriptor (meta.xml, parsed by the library) as a TableSpec."""
    fields = {
        f["index"]: short_term(f["term"]) for f in descriptor.fields if f["index"] is not None
    }
    defaults = {short_term(f["term"]): f["default"] for f in descriptor.fields
                if f["index"] is None and f["default"] is not None}  # fmt: skip
    id_index = descriptor.id_index if descriptor.represents_corefile else descriptor.coreid_index
    # The Darwin Core text guide's defaults where meta.xml leaves an attribute out (the library
    # assumes tab and no quoting there): comma-separated, double-quoted.
    given = descriptor.raw_element.attrib
    return TableSpec(
        path=folder / descriptor.file_location,
        sep=descriptor.fields_terminated_by if "fieldsTerminatedBy" in given else ",",
        quote=descriptor.fields_enclosed_by if "fieldsEnclosedBy" in given else '"',
        header_lines=descriptor.lines_to_ignore,
        encoding=descriptor.file_encoding or "utf-8",
        fields=fields,
        defaults=defaults,
        id_index=id_index,
        row_type=descriptor.type or "",
    )


def read_meta(folder: Path) -> tuple[TableSpec | None, TableSpec | None]:
    """The archive's (core, multimedia) tables from meta.xml; either may be absent.

    python-dwca-reader parses meta.xml; the multimedia table is the one whose rowType is a
    Multimedia class (GBIF's simple multimedia or Audubon Core) or, failing that, whose file is
    named multimedia.*. A meta.xml that is not a valid archive descriptor raises ``MetaError``.
    """
    try:
        meta = ArchiveDescriptor((folder / "meta.xml").read_text(encoding="utf-8"))
    except (ET.ParseError, AttributeError, TypeError, ValueError) as exc:
        raise MetaError(f"{folder / 'meta.xml'}: not a Darwin Core meta.xml ({exc})") from exc
    specs = [_spec(d, folder) for d in [meta.core, *meta.extensions]]
    media = next(
        (s for s in specs if s.row_type.lower().endswith("multimedia")),
        next((s for s in specs if s.path.name.lower() in MULTIMEDIA_NAMES), None),
    )
    core = specs[0]
    return (None if core is media else core), media


def _sniff(path: Path) -> TableSpec:
    """A multimedia file without meta.xml: tab-separated and unquoted (GBIF) or CSV (iDigBio)."""
    with open(path, encoding="utf-8-sig", newline="") as fh:
        first = fh.readline()
    tab = "\t" in first
    return TableSpec(path=path, sep="\t" if tab else ",", quote="" if tab else '"')


def _first_line(spec: TableSpec) -> list[str]:
    with open(spec.path, encoding=spec.encoding, newline="") as fh:
        line = fh.readline().lstrip("\ufeff").rstrip("\r\n")
    if not spec.quote:
        return line.split(spec.sep)
    return next(csv.reader([line], delimiter=spec.sep, quotechar=spec.quote), [])


def column_names(spec: TableSpec) -> list[str]:
    """Short term per column: meta.xml's term, else the header's name, else ``column_<i>``."""
    first = _first_line(spec)
    header = first if spec.header_lines >= 1 else []
    n = max(len(first), max(spec.fields, default=-1) + 1)
    names = [spec.fields.get(i) or (short_term(header[i]) if i < len(header) else f"column_{i}")
             for i in range(n)]  # fmt: skip
    return _unique(names)


def read_table(spec: TableSpec, usecols: Iterable[str] | None = None) -> pd.DataFrame:
    """Read a DwC-A text file with every value a string, naming columns by their short terms.

    ``usecols`` keeps a multi-gigabyte occurrence core cheap when only a few columns are joined.
    """
    names = column_names(spec)
    id_key = "coreid" if "multimedia" in spec.row_type.lower() else "id"
    add_id = spec.id_index is not None and spec.id_index < len(names) and id_key not in names
    wanted = set([*names, *spec.defaults] if usecols is None else usecols)
    keep = [i for i, n in enumerate(names) if n in wanted or (add_id and i == spec.id_index)]
    table = pd.read_csv(
        spec.path,
        sep=spec.sep,
        header=None,
        names=range(len(names)),
        usecols=keep,
        skiprows=spec.header_lines,
        dtype=str,
        keep_default_na=False,
        encoding="utf-8-sig" if spec.encoding.lower() in ("utf-8", "utf8") else spec.encoding,
        quoting=csv.QUOTE_NONE if not spec.quote else csv.QUOTE_MINIMAL,
        quotechar=spec.quote or '"',
    )
    out = pd.DataFrame({names[i]: table[i] for i in keep if names[i] in wanted})
    if add_id:
        out[id_key] = table[spec.id_index]
    for name, value in spec.defaults.items():
        if name not in out.columns and name in wanted:
            out[name] = value
    return out


def _unique(names: list[str]) -> list[str]:
    """Two namespaces may share a short term (dcterms:type, idigbio:type): keep both columns."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out


def _header_terms(path: Path) -> set[str]:
    try:
        return {short_term(c) for c in _first_line(_sniff(path))}
    except (OSError, UnicodeDecodeError):
        return set()


def is_multimedia_table(path: str | os.PathLike) -> bool:
    """A delimited file with an ``identifier`` or ``accessURI`` column and no ``path`` column."""
    p = Path(path)
    if not p.is_file() or p.suffix.lower() not in TABLE_SUFFIXES:
        return False
    terms = _header_terms(p)
    return "path" not in terms and any(t in terms for t in MEDIA_TERMS)


def is_zipped_archive(path: str | os.PathLike) -> bool:
    """A zipped DwC-A (what GBIF downloads are): a .zip holding a meta.xml, at its root or in
    its one top folder."""
    import zipfile

    p = Path(path)
    if not p.is_file() or p.suffix.lower() != ".zip" or not zipfile.is_zipfile(p):
        return False
    with zipfile.ZipFile(p) as zf:
        return any(Path(n).name == "meta.xml" and len(Path(n).parts) <= 2 for n in zf.namelist())


def is_archive(path: str | os.PathLike) -> bool:
    """An unpacked DwC-A (a folder with meta.xml and a multimedia table) or a zipped one."""
    p = Path(path)
    if is_zipped_archive(p):
        return True
    if not (p / "meta.xml").is_file():
        return False
    try:
        return read_meta(p)[1] is not None
    except MetaError:
        return any((p / n).is_file() for n in MULTIMEDIA_NAMES)


def _specs_for(source: Path) -> tuple[TableSpec | None, TableSpec]:
    """Core and multimedia layout for a folder or a multimedia file (using a meta.xml beside it)."""
    folder = source if source.is_dir() else source.parent
    if (folder / "meta.xml").is_file():
        try:
            core, media = read_meta(folder)
        except MetaError:
            core, media = None, None
        if media is not None and (source.is_dir() or media.path.resolve() == source.resolve()):
            return core, media
    if source.is_dir():
        found = next((folder / n for n in MULTIMEDIA_NAMES if (folder / n).is_file()), None)
        if found is None:
            raise FileNotFoundError(f"{source}: a DwC-A folder needs a multimedia table")
        return None, _sniff(found)
    return None, _sniff(source)


def _join_core(media: pd.DataFrame, core: TableSpec | None) -> pd.DataFrame:
    """Add the core's catalogue number and friends by coreid, without overwriting media columns."""
    if core is None or "coreid" not in media.columns:
        return media
    wanted = [c for c in CORE_TERMS if c in column_names(core) and c not in media.columns]
    if not wanted or core.id_index is None:
        return media
    table = read_table(core, usecols=[*wanted, "id"])
    lookup = table.drop_duplicates(subset="id").set_index("id")[wanted]
    joined = lookup.reindex(media["coreid"]).fillna("")
    return pd.concat([media.reset_index(drop=True), joined.reset_index(drop=True)], axis=1)


class MediaIndex:
    """Every file under ``media_root`` by name, built with one walk of the folder.

    Downloaded media keep the URL's file name (``…/00123.jpg``) or add an extension to an
    extensionless one (iDigBio's ``…/media/<uuid>`` saved as ``<uuid>.jpg``), so a name is looked
    up exactly, then case-insensitively, then by stem among image files.
    """

    def __init__(self, root: str | os.PathLike | None, extensions: Iterable[str]):
        self.root = Path(root) if root else None
        self.by_name: dict[str, list[Path]] = {}
        self.by_lower: dict[str, list[Path]] = {}
        self.by_stem: dict[str, list[Path]] = {}
        if self.root is None:
            return
        if not self.root.is_dir():
            raise FileNotFoundError(f"ingest.media_root {str(self.root)!r} is not a folder")
        exts = tuple(e.lower() for e in extensions)
        for dirpath, _, names in os.walk(self.root):
            for name in names:
                path = Path(dirpath) / name
                self.by_name.setdefault(name, []).append(path)
                self.by_lower.setdefault(name.lower(), []).append(path)
                if name.lower().endswith(exts):
                    self.by_stem.setdefault(path.stem.lower(), []).append(path)

    def find(self, name: str) -> list[Path]:
        """All files the name can mean, from the most exact rule that finds any."""
        for table, key in (
            (self.by_name, name),
            (self.by_lower, name.lower()),
            (self.by_stem, name.lower()),
        ):
            if hits := table.get(key):
                return sorted(hits)
        return []


@dataclass(frozen=True)
class Resolved:
    """Where one multimedia row's image lies locally, or why it does not."""

    path: str
    name: str
    error: str = ""


def url_name(url: str) -> str:
    """The file name a URL's path ends in, url-decoded (query and fragment ignored)."""
    return unquote(urlparse(url).path.rstrip("/").rsplit("/", 1)[-1])


def _from_index(value: str, name: str, index: MediaIndex) -> Resolved | None:
    hits = index.find(name) if name else []
    if len(hits) == 1:
        return Resolved(str(hits[0]), name)
    if len(hits) > 1:
        shown = ", ".join(str(h) for h in hits[:3]) + (", …" if len(hits) > 3 else "")
        return Resolved(value, name, f"ambiguous: {name} matches {len(hits)} files: {shown}")
    return None


def resolve(value: str, base: Path, index: MediaIndex) -> Resolved:
    """A local path is used as is (relative to the table's folder, then media_root); a URL by its
    file name under media_root."""
    if value.lower().startswith("file://"):
        value = unquote(urlparse(value).path)
    if _URL.match(value):
        name = url_name(value)
        found = _from_index(value, name, index)
        if found is not None:
            return found
        hint = "" if index.root is not None else " (ingest.media_root is not set)"
        return Resolved(value, name, f"not found locally: {value}{hint}")
    path = Path(value)
    roots = [base, *([index.root] if index.root else [])]
    for candidate in [path] if path.is_absolute() else [r / path for r in roots]:
        if candidate.is_file():
            return Resolved(str(candidate), path.name)
    found = _from_index(value, path.name, index)
    if found is not None:
        return found
    return Resolved(str(path if path.is_absolute() else base / path), path.name,
                    f"not found locally: {value}")  # fmt: skip


def _not_an_image(row: dict) -> str:
    """GBIF multimedia tables list sounds and videos too: they stay as rows, never decoded."""
    kind = short_term(row.get("type", "")).lower()
    mime = row.get("format", "").strip().lower()
    if kind and kind not in ("stillimage", "image"):
        return f"unsupported format: {row['type']}"
    if mime and "/" in mime and not mime.startswith("image/"):
        return f"unsupported format: {row['format']}"
    return ""


def _resolve_row(row: dict, base: Path, index: MediaIndex) -> Resolved:
    values = [row[t].strip() for t in MEDIA_TERMS if row.get(t, "").strip()]
    if not values:
        return Resolved("", "", "no identifier or accessURI")
    if reason := _not_an_image(row):
        return Resolved(values[0], url_name(values[0]) if _URL.match(values[0]) else "", reason)
    tried = [resolve(v, base, index) for v in dict.fromkeys(values)]
    return next((r for r in tried if not r.error), tried[0])


def read_multimedia(
    source: str | os.PathLike,
    media_root: str | os.PathLike | None = None,
    extensions: Iterable[str] = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp"),
) -> pd.DataFrame:
    """One row per multimedia record: ``path`` (local file, or the identifier when not found),
    ``error`` (empty when found), ``media_name`` and every column of the table (plus the core's
    catalogue columns when meta.xml names a core), in the table's order.

    A zipped archive is opened with python-dwca-reader, which unpacks it to a temporary folder
    for as long as its tables are read; its media are found under ``media_root`` (a GBIF download
    holds URLs, never the images).
    """
    src = Path(source)
    if is_zipped_archive(src):
        from dwca.read import DwCAReader

        with DwCAReader(str(src)) as archive:
            unpacked = Path(archive.absolute_temporary_path("meta.xml")).parent
            return read_multimedia(unpacked, media_root, extensions)
    core, spec = _specs_for(src)
    table = _join_core(read_table(spec), core)
    if not any(t in table.columns for t in MEDIA_TERMS):
        raise ValueError(
            f"{spec.path}: a multimedia table needs an identifier or accessURI column, "
            f"has {list(table.columns)}"
        )
    index = MediaIndex(media_root, extensions)
    resolved = [_resolve_row(r, spec.path.parent, index) for r in table.to_dict("records")]
    front = pd.DataFrame(
        {
            "path": [r.path for r in resolved],
            ERROR: [r.error for r in resolved],
            MEDIA_NAME: [r.name for r in resolved],
        }
    )
    rest = table.rename(columns={c: f"source_{c}" for c in front.columns if c in table.columns})
    return pd.concat([front, rest.reset_index(drop=True)], axis=1)


def _fields(parent: ET.Element, columns: list[str]) -> None:
    for i, name in enumerate(columns[1:], start=1):
        ET.SubElement(parent, "field", index=str(i), term=TERM_URIS.get(name, f"{DWC}{name}"))


def write_archive(
    out_dir: str | os.PathLike,
    core: pd.DataFrame,
    extensions: dict[str, tuple[str, pd.DataFrame]],
    core_row_type: str = OCCURRENCE_ROW_TYPE,
) -> None:
    """An unpacked Darwin Core Archive: ``occurrence.txt`` (``core``, its first column the id),
    one file per extension (``{file name: (row type, table)}``, first column the core id) and
    ``meta.xml``. UTF-8, tab-separated, one header line, no quoting: tabs and newlines in values
    become spaces, because an unquoted tab file cannot hold them."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"occurrence.txt": core, **{name: table for name, (_, table) in extensions.items()}}
    for name, table in files.items():
        clean = table.astype(str).replace({r"[\t\r\n]+": " "}, regex=True)
        write_csv(clean, out / name, sep="\t", quoting=csv.QUOTE_NONE, lineterminator="\n")
    archive = ET.Element("archive", xmlns="http://rs.tdwg.org/dwc/text/")
    attrs = {"encoding": "UTF-8", "fieldsTerminatedBy": "\\t", "linesTerminatedBy": "\\n",
             "fieldsEnclosedBy": "", "ignoreHeaderLines": "1"}  # fmt: skip
    core_el = ET.SubElement(archive, "core", rowType=core_row_type, **attrs)
    ET.SubElement(ET.SubElement(core_el, "files"), "location").text = "occurrence.txt"
    ET.SubElement(core_el, "id", index="0")
    _fields(core_el, list(core.columns))
    for name, (row_type, table) in extensions.items():
        ext = ET.SubElement(archive, "extension", rowType=row_type, **attrs)
        ET.SubElement(ET.SubElement(ext, "files"), "location").text = name
        ET.SubElement(ext, "coreid", index="0")
        _fields(ext, list(table.columns))
    ET.indent(archive)
    with atomic_open(out / "meta.xml") as fh:
        ET.ElementTree(archive).write(fh, encoding="utf-8", xml_declaration=True)
