"""Darwin Core Archive multimedia tables: local matching, row accounting, carried columns."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from herbseg.io import dwca
from herbseg.io.sheets import PRESET_ERROR, discover_sheets
from herbseg.stages.ingest import ingest
from tests.helpers import META, write_sheet

GBIF_HEADER = "gbifID\ttype\tformat\tidentifier\ttitle\tcatalogNumber\n"


def _lines(*rows: tuple[str, ...]) -> str:
    return "".join("\t".join(r) + "\n" for r in rows)


@pytest.fixture
def media(tmp_path) -> Path:
    """Downloaded media: two institutions used the same file name once."""
    root = tmp_path / "media"
    write_sheet(root / "inst_a" / "00123.jpg", 40, 60)
    write_sheet(root / "inst_a" / "Viola alba.jpg", 40, 60)
    write_sheet(root / "inst_b" / "9f1c.JPG", 40, 60)  # iDigBio: extensionless URL, saved .JPG
    write_sheet(root / "inst_a" / "same.jpg", 40, 60)
    write_sheet(root / "inst_b" / "same.jpg", 40, 60)
    return root


def test_gbif_multimedia_matches_urls_and_paths_and_keeps_every_row(tmp_path, media):
    write_sheet(tmp_path / "local" / "here.png", 40, 60, fmt="PNG")
    table = tmp_path / "multimedia.txt"
    table.write_text(
        GBIF_HEADER
        + _lines(
            (
                "1",
                "StillImage",
                "image/jpeg",
                "https://ex.org/img/00123.jpg?size=full",
                'a "q"',
                "K000001",
            ),
            ("1", "StillImage", "image/jpeg", "https://ex.org/img/Viola%20alba.jpg", "", "K000001"),
            ("2", "StillImage", "image/jpeg", "https://api.idigbio.org/v2/media/9f1c", "", "K2"),
            ("3", "StillImage", "image/png", "local/here.png", "", "K3"),
            ("4", "StillImage", "image/jpeg", "https://ex.org/same.jpg", "", "K4"),
            ("5", "StillImage", "image/jpeg", "https://ex.org/gone.jpg", "", "K5"),
            ("6", "Sound", "audio/mpeg", "https://ex.org/call.mp3", "", "K6"),
        )  # fmt: skip
    )
    assert dwca.is_multimedia_table(table)
    sheets = discover_sheets(table, media_root=media).set_index("sheet_id")
    assert list(sheets.index) == ["1__00123", "1__Viola_alba", "2__9f1c", "3__here", "4__same",
                                  "5__gone", "6__call"]  # fmt: skip
    assert sheets.loc["1__00123", "path"] == str(media / "inst_a" / "00123.jpg")
    assert sheets.loc["1__Viola_alba", "path"] == str(media / "inst_a" / "Viola alba.jpg")
    assert sheets.loc["2__9f1c", "path"] == str(media / "inst_b" / "9f1c.JPG")
    assert sheets.loc["3__here", "path"] == str(tmp_path / "local" / "here.png")
    errors = sheets[PRESET_ERROR]
    assert errors["4__same"].startswith("ambiguous: same.jpg matches 2 files")
    assert errors["5__gone"] == "not found locally: https://ex.org/gone.jpg"
    assert errors["6__call"] == "unsupported format: Sound"
    assert (errors[["1__00123", "1__Viola_alba", "2__9f1c", "3__here"]] == "").all()
    assert sheets.loc["1__00123", "title"] == 'a "q"'  # unquoted GBIF text stays as written
    assert sheets.loc["2__9f1c", "catalogNumber"] == "K2"


def test_rows_not_found_are_error_rows_of_the_manifest(tmp_path, media):
    table = tmp_path / "multimedia.txt"
    table.write_text(
        GBIF_HEADER
        + _lines(
            ("1", "StillImage", "", "https://ex.org/00123.jpg", "", "K1"),
            ("2", "StillImage", "", "https://ex.org/gone.jpg", "", "K2"),
        )
    )
    manifest, problems, _ = ingest(str(table), None, tmp_path / "out", media_root=str(media),
                                   log=lambda m: None)  # fmt: skip
    rows = manifest.set_index("sheet_id")
    assert rows.loc["1__00123", "status"] == "ok" and rows.loc["1__00123", "width"] == 40
    assert rows.loc["2__gone", "status"] == "error"
    assert rows.loc["2__gone", "path"] == "https://ex.org/gone.jpg"
    assert rows.loc["2__gone", "catalogNumber"] == "K2"
    assert PRESET_ERROR not in manifest.columns
    assert list(problems["sheet_id"]) == ["2__gone"]


def test_without_media_root_urls_say_so(tmp_path):
    table = tmp_path / "multimedia.txt"
    table.write_text(GBIF_HEADER + _lines(("1", "", "", "https://ex.org/a.jpg", "", "")))
    sheets = discover_sheets(table)
    assert "ingest.media_root is not set" in sheets.loc[0, PRESET_ERROR]


def test_archive_folder_reads_meta_xml_and_joins_the_core(tmp_path, media):
    arch = tmp_path / "dwca"
    arch.mkdir()
    (arch / "meta.xml").write_text(META)
    (arch / "occurrence.txt").write_text(
        "gbifID\tcatalogNumber\tscientificName\n100\t00012345\tViola alba\n200\tK2\tViola b\n"
    )
    # no header line: column names come from meta.xml only
    (arch / "multimedia.txt").write_text(
        _lines(("100", "StillImage", "https://ex.org/00123.jpg"), ("300", "", "gone.jpg"))
    )
    assert dwca.is_archive(arch) and not dwca.is_archive(media)
    sheets = discover_sheets(arch, media_root=media).set_index("sheet_id")
    assert list(sheets.index) == ["100__00123", "300__gone"]
    row = sheets.loc["100__00123"]
    assert (row["gbifID"], row["coreid"], row["catalogNumber"]) == ("100", "100", "00012345")
    assert row["scientificName"] == "Viola alba" and row["license"] == "CC0"
    assert sheets.loc["300__gone", PRESET_ERROR] == "not found locally: gone.jpg"
    assert sheets.loc["300__gone", "catalogNumber"] == ""


def test_idigbio_csv_tries_identifier_then_access_uri(tmp_path, media):
    table = tmp_path / "multimedia.csv"
    pd.DataFrame(
        {
            "coreid": ["u1", "u2"],
            "dcterms:identifier": ["urn:uuid:1", "urn:uuid:2"],
            "ac:accessURI": ["https://api.idigbio.org/v2/media/9f1c", ""],
            "dwc:catalogNumber": ["C1", "C2"],
        }
    ).to_csv(table, index=False)
    sheets = discover_sheets(table, media_root=media).set_index("sheet_id")
    assert sheets.loc["u1__9f1c", "path"] == str(media / "inst_b" / "9f1c.JPG")
    assert sheets.loc["u1__9f1c", "catalogNumber"] == "C1"  # namespace dropped
    assert sheets.loc["u1__9f1c", "accessURI"].endswith("/9f1c")
    assert sheets.loc["u2__urn_uuid_2", PRESET_ERROR] == "not found locally: urn:uuid:2"


def test_id_column_and_duplicates(tmp_path, media):
    table = tmp_path / "multimedia.txt"
    table.write_text(
        GBIF_HEADER
        + _lines(
            ("1", "", "", "https://ex.org/00123.jpg", "", "K1"),
            ("2", "", "", "https://ex.org/Viola%20alba.jpg", "", "K1"),
            ("3", "", "", "https://ex.org/9f1c", "", ""),
        )
    )
    sheets = discover_sheets(table, media_root=media, id_column="catalogNumber")
    # K1 is one specimen imaged twice: two sheets, told apart by file stem; an empty cell takes
    # the default rule
    assert list(sheets["sheet_id"]) == ["K1__00123", "K1__Viola_alba", "3__9f1c"]
    manifest, _, _ = ingest(str(table), None, tmp_path / "out", media_root=str(media),
                            id_column="catalogNumber", log=lambda m: None)  # fmt: skip
    assert list(manifest["status"]) == ["ok", "ok", "ok"]
    assert list(manifest["catalogNumber"]) == ["K1", "K1", ""]
    with pytest.raises(ValueError, match="id_column"):
        discover_sheets(table, media_root=media, id_column="nope")


def test_no_record_id_falls_back_to_the_relative_path(tmp_path, media):
    table = tmp_path / "multimedia.csv"
    pd.DataFrame({"identifier": ["inst_a/00123.jpg", "https://ex.org/x/lost.tif"]}).to_csv(
        table, index=False
    )
    sheets = discover_sheets(table, media_root=media)
    assert list(sheets["sheet_id"]) == ["00123", "lost"]
    assert sheets.loc[0, "path"] == str(media / "inst_a" / "00123.jpg")


def test_a_sheet_list_with_a_path_column_is_not_a_multimedia_table(tmp_path):
    table = tmp_path / "list.csv"
    pd.DataFrame({"path": ["a.jpg"], "identifier": ["x"]}).to_csv(table, index=False)
    assert not dwca.is_multimedia_table(table)


@pytest.mark.parametrize("top_folder", ["", "0012345-260101000000000/"])
def test_zipped_archive_a_gbif_download_is_read(tmp_path, media, top_folder):
    """A GBIF download zip (files at its root) or a zipped folder, read without unpacking by
    hand; the same rows as the unpacked archive."""
    import zipfile

    occurrence = "gbifID\tcatalogNumber\tscientificName\n100\t00012345\tViola alba\n"
    multimedia = _lines(("100", "StillImage", "https://ex.org/00123.jpg"), ("300", "", "gone.jpg"))
    zipped = tmp_path / "download.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr(top_folder + "meta.xml", META)
        zf.writestr(top_folder + "metadata.xml", "<eml:eml xmlns:eml='eml://x'/>")
        zf.writestr(top_folder + "occurrence.txt", occurrence)
        zf.writestr(top_folder + "multimedia.txt", multimedia)
    assert dwca.is_archive(zipped) and not dwca.is_archive(tmp_path / "nope.zip")
    sheets = discover_sheets(zipped, media_root=media).set_index("sheet_id")
    assert list(sheets.index) == ["100__00123", "300__gone"]
    assert sheets.loc["100__00123", "catalogNumber"] == "00012345"
    assert sheets.loc["100__00123", "path"] == str(media / "inst_a" / "00123.jpg")
    assert sheets.loc["300__gone", PRESET_ERROR] == "not found locally: gone.jpg"


def test_meta_xml_defaults_and_a_broken_meta_xml(tmp_path):
    """Attributes left out take the Darwin Core text guide's defaults (comma, double quote), as
    iDigBio-style CSV archives rely on; a meta.xml that is not one is not an archive."""
    arch = tmp_path / "csv_dwca"
    arch.mkdir()
    (arch / "meta.xml").write_text(
        META.replace(
            'fieldsTerminatedBy="\\t" linesTerminatedBy="\\n"\n        fieldsEnclosedBy=""', ""
        )
    )
    core, media = dwca.read_meta(arch)
    assert (media.sep, media.quote, media.header_lines) == (",", '"', 0)
    assert (core.sep, core.quote, core.header_lines) == ("\t", "", 1)
    assert media.defaults == {"license": "CC0"} and media.id_index == 0
    (arch / "multimedia.txt").write_text('100,StillImage,"https://ex.org/a,b.jpg"\n')
    table = dwca.read_table(media)
    assert table.loc[0, "identifier"] == "https://ex.org/a,b.jpg"
    assert table.loc[0, "coreid"] == "100"
    (arch / "meta.xml").write_text("<archive><core>")  # cut off: not XML
    with pytest.raises(dwca.MetaError, match="meta.xml"):
        dwca.read_meta(arch)
    assert dwca.is_archive(arch)  # a multimedia.txt beside it: read by sniffing its header
