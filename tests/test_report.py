"""The run report as a new user sees it: Snakemake's HTML report, opened in headless Chromium.

Snakemake's report is a JavaScript application; the figures are only "in the report" if the page
renders them, so the checks read the DOM after the scripts ran, not the HTML file. Chromium is
needed: the test skips without it on a workstation, and fails in CI (``CI`` set), where
``.ci/run`` installs it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from herbseg.reporting import overlays, plots
from tests.helpers import copy_run, run_snakemake

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=10000",
]
FIGURES = {  # result path suffix → report category
    "report/training.png": "Training",
    "report/evaluation.png": "Evaluation",
    "report/collection.png": "Collection",
    "report/leaves/kept.png": "Leaves",
    "report/leaves/rejected.png": "Leaves",
}


@pytest.fixture(scope="module")
def browser() -> str:
    exe = shutil.which("chromium")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing; .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return exe


@pytest.fixture(scope="module")
def report(tiny_run, tmp_path_factory) -> tuple[Path, dict, Path]:
    """The tiny run's report, made in a copy of the run (it joins that copy's bundle)."""
    work, config = tiny_run
    work = copy_run(work, tmp_path_factory.mktemp("report") / "run")
    html = work / "results" / "report.html"
    run_snakemake(work, config, "--report", str(html))
    return work, config, html


def embedded(html: Path, name: str) -> dict:
    """A JSON object the report embeds as ``var <name> = {...};``."""
    text = html.read_text()
    m = re.search(rf'<script id="{name}">\s*var {name} = (.*?);\s*</script>', text, re.S)
    assert m, f"report has no {name} block"
    return json.loads(m.group(1))


def chromium(browser: str, page: Path, tmp: Path) -> tuple[str, Path]:
    """Open ``page`` as a fresh 1400×1000 browser would: its DOM after the scripts ran, and a
    screenshot."""
    n = len(list(tmp.glob("profile-*")))
    profile, shot = tmp / f"profile-{n}", tmp / f"{page.stem}-{n}.png"
    proc = subprocess.run(
        [
            browser,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--window-size=1400,1000",
            f"--screenshot={shot}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    )
    return proc.stdout, shot


def rendered(dom: str) -> str:
    """What the page shows: the DOM without script and style bodies (the embedded data)."""
    return re.sub(r"<(script|style)\b.*?</\1>", "", dom, flags=re.S)


def showing(html: Path, out: Path, key: str, category: str) -> Path:
    """A copy of the report that, once loaded, opens ``category`` and views result ``key``,
    as a user does by clicking the category and then the result's eye button."""
    script = f"""<script>
const wanted = {json.dumps(key)};
const opened = setInterval(() => {{  // the app mounts asynchronously; wait for it
  if (typeof app === "undefined" || !app) return;
  clearInterval(opened);
  app.showCategory({json.dumps(category)});
  setTimeout(() => app.setView({{content: "img", resultPath: wanted,
                                  contentPath: results[wanted].data_uri}}), 200);
}}, 50);
</script></body>"""
    text = html.read_text()
    i = text.rindex("</body>")
    out.write_text(text[:i] + script + text[i + len("</body>") :])
    return out


@pytest.mark.workflow
def test_figures_tables_and_overlays_are_in_the_report(report):
    _, _, html = report
    results = embedded(html, "results")
    names = list(results)
    for suffix in [*FIGURES, "evaluate/summary.csv", "evaluate/per_sheet.csv"]:
        assert any(n.endswith(suffix) for n in names), suffix
    overlays = [n for n in names if "/report/overlays/" in n]
    reasons = {Path(n).parent.name for n in overlays}
    assert reasons == {"worst-test", "doubtful", "problems", "random"}
    assert sum("/random/" in n for n in overlays) == 2  # report.n_random of the tiny run
    assert sum("/doubtful/" in n for n in overlays) == 1  # report.n_doubtful
    assert any(n.endswith("problems/unreadable-files.jpg") for n in overlays)
    assert not any(n.endswith("leaf_area.csv") for n in names)  # a million rows: not embedded
    for n in overlays:
        assert results[n]["labels"] == {"sheet": Path(n).stem}
        assert results[n]["data_uri"].startswith("data:image/jpeg;")
    qc = [n for n in names if "/report/annotation_qc/" in n]  # worst training masks, drawn
    assert qc and all(results[n]["data_uri"].startswith("data:image/jpeg;") for n in qc)
    categories = embedded(html, "categories")
    # "Scales": crops of the scales found (rule scale_evidence), when the run found any
    base = {"Training", "Evaluation", "Collection", "Overlays", "Annotation QC", "Leaves"}
    assert base <= set(categories)
    assert set(categories) <= base | {"Scales"}
    assert set(categories["Overlays"]) == {"worst-test", "doubtful", "problems", "random"}
    for n in (n for n in names if "/report/scale_evidence/" in n):
        assert Path(n).parent.name in {"refused", "low-confidence", "sample"}
        assert results[n]["data_uri"].startswith("data:image/png;")


@pytest.mark.workflow
@pytest.mark.browser
def test_report_renders_in_headless_chromium(report, browser, tmp_path):
    _, _, html = report
    dom, shot = chromium(browser, html, tmp_path)
    with Image.open(shot) as im:
        assert im.size == (1400, 1000)
        pixels = np.asarray(im.convert("L"))
    assert pixels.std() > 20  # text, menu and rule graph, not a blank or loading page
    dom = rendered(dom)
    assert "herbseg: leaf masks and leaf measurements" in dom  # workflow.rst, rendered by JS
    for category in ("Training", "Evaluation", "Collection", "Overlays", "Leaves"):
        assert f"<span>{category}</span>" in dom  # the menu the app built
    assert 'id="app"><div' in dom  # React mounted the app


@pytest.mark.workflow
@pytest.mark.browser
@pytest.mark.parametrize("suffix", list(FIGURES))
def test_each_figure_page_shows_its_image(report, browser, tmp_path, suffix):
    _, _, html = report
    results = embedded(html, "results")
    key = next(n for n in results if n.endswith(suffix))
    page = showing(html, tmp_path / "page.html", key, FIGURES[suffix])
    dom, shot = chromium(browser, page, tmp_path)
    assert shot.stat().st_size > 10_000
    dom = rendered(dom)
    assert f'<img src="{results[key]["data_uri"]}"' in dom  # the figure itself is displayed
    label = next(iter(results[key]["labels"].values()))
    assert label in dom  # and listed in its category's menu


@pytest.mark.workflow
def test_the_report_joins_the_bundle_on_the_next_run(report):
    work, config, html = report
    log = run_snakemake(work, config).stderr
    ran = set(re.findall(r"^(?:local)?rule (\w+):$", log, re.M))
    assert ran == {"bundle", "all"}  # the new report is the only change
    copy = work / "results" / "bundle" / "results" / "report.html"
    assert copy.read_bytes() == html.read_bytes()


# --- the figure functions on their own ------------------------------------------------------


def _tables():
    manifest = pd.DataFrame(
        {
            "sheet_id": ["a", "b", "c", "d", "a", "bad"],
            "path": ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "a2.jpg", "bad.jpg"],
            "status": ["ok"] * 4 + ["duplicate", "error"],
            "mask_path": ["am.png", "bm.png", "", "", "", ""],
            "width": ["10"] * 6,
            "height": ["20"] * 6,
        }
    )
    problems = pd.DataFrame(
        {
            "kind": ["sheet", "sheet", "annotation"],
            "sheet_id": ["a", "bad", ""],
            "path": ["a2.jpg", "bad.jpg", "orphan.png"],
            "status": ["duplicate", "error", "unmatched"],
            "error": ["duplicate sheet_id", "truncated", "no sheet for this mask"],
        }
    )
    per_sheet = pd.DataFrame(
        {
            "sheet_id": ["a", "b"],
            "iou": ["0.9", "0.4"],
            "precision": ["1", "1"],
            "recall": ["1", "1"],
        }
    )
    leaf_area = manifest[["sheet_id", "path", "status"]].assign(
        predicted_mask=["ma.png", "mb.png", "mc.png", "md.png", "", ""],
        leaf_area_mm2=["5", "6", "", "8", "", ""],
        n_leaves=["1", "2", "3", "4", "", ""],
        scale_source=["dpi", "dpi", "none", "ruler", "", ""],
        width="10",
        height="20",
    )
    return manifest, problems, per_sheet, leaf_area


def test_overlay_plan_picks_worst_problems_and_a_seeded_sample():
    manifest, problems, per_sheet, leaf_area = _tables()
    plan = overlays.plan_overlays(
        manifest, problems, per_sheet, leaf_area, n_worst=1, n_problems=5, n_random=2, seed=1
    )
    by_reason = {}
    for item in plan.items:
        by_reason.setdefault(item.reason, []).append(item)
    assert [i.sheet_id for i in by_reason["worst-test"]] == ["b"]  # lowest IoU first
    assert by_reason["worst-test"][0].annotation == "bm.png"
    assert [i.path for i in by_reason["problems"]] == ["a2.jpg"]  # the duplicate can be drawn
    assert any("bad" in line and "truncated" in line for line in plan.unreadable)
    assert any("orphan.png" in line for line in plan.unreadable)
    randoms = [i.sheet_id for i in by_reason["random"]]
    assert len(randoms) == 2 and "b" not in randoms
    again = overlays.plan_overlays(
        manifest, problems, per_sheet, leaf_area, n_worst=1, n_problems=5, n_random=2, seed=1
    )
    assert [i.sheet_id for i in again.items if i.reason == "random"] == randoms


def test_overlay_plan_draws_the_most_doubtful_sheets_not_already_drawn():
    """Highest ``mask_doubt`` first; a worst test sheet is not drawn twice, a blank doubt (a
    baseline's mask) is never picked, and the random sample leaves the doubtful ones out."""
    manifest, problems, per_sheet, leaf_area = _tables()
    leaf_area = leaf_area.assign(mask_doubt=["0.1", "0.9", "0.5", "", "", ""])
    plan = overlays.plan_overlays(
        manifest, problems, per_sheet, leaf_area, n_worst=1, n_doubtful=2, n_problems=5,
        n_random=5, seed=1,
    )  # fmt: skip
    doubtful = [i for i in plan.items if i.reason == "doubtful"]
    assert [i.sheet_id for i in doubtful] == ["c", "a"]  # "b" is the worst test sheet
    assert "unsure of 50% of its plant" in doubtful[0].title
    assert doubtful[1].annotation == "am.png"
    randoms = {i.sheet_id for i in plan.items if i.reason == "random"}
    assert randoms == {"d"}  # the one measured sheet left
    none = overlays.plan_overlays(
        manifest, problems, per_sheet, leaf_area.drop(columns="mask_doubt"), n_worst=1
    )
    assert not [i for i in none.items if i.reason == "doubtful"]  # a table from before


def test_a_long_caption_stays_inside_a_narrow_overlay(tmp_path):
    """A tall, narrow sheet and the doubtful caption of a long sheet id: every word is drawn
    and no caption pixel touches the figure's left or right edge (the demo's captions ran past
    both when they were wrapped at a fixed number of characters)."""
    sheet = tmp_path / "narrow.png"
    Image.fromarray(np.full((1500, 500, 3), 235, np.uint8)).save(sheet)
    title = (
        "MNHN-P-P04871235_a_very_long_sheet_identifier — doubtful 1 of 48: the network was "
        "unsure of 43% of its plant; leaf area 12,967\u00a0mm², 14 leaves, scale: ruler"
    )
    lines = overlays.wrap_to_width(title, 288, overlays.TITLE_POINTS)
    assert "".join(lines).replace(" ", "") == title.replace(" ", "")  # nothing dropped
    assert len(lines) >= 4 and lines[0].startswith("MNHN-P-P04871235_a")  # the id broken
    assert not any(line.startswith("mm²") for line in lines)  # the unit stays with its number
    out = tmp_path / "o.png"
    item = overlays.OverlayItem("doubtful", "x", str(sheet), title)
    assert overlays.render_overlay(item, out, long_side=900) is None
    with Image.open(out) as im:
        rgb = np.asarray(im.convert("RGB")).astype(int)
    band = rgb[: rgb.shape[0] - 900]  # the caption above the 300x900 thumbnail
    dark = band.sum(axis=2) < 300
    assert dark.any(), "no caption drawn"
    assert not dark[:, :3].any() and not dark[:, -3:].any(), "the caption runs off the edge"


def test_figures_are_drawn_from_empty_and_unscaled_tables(tmp_path):
    empty = pd.DataFrame(columns=["epoch", "train_loss", "val_loss", "val_iou", "seconds"])
    plots.plot_training(empty, tmp_path / "t.png")
    plots.plot_evaluation(
        pd.DataFrame(columns=["sheet_id", "iou"]), pd.DataFrame(), tmp_path / "e.png"
    )
    unscaled = pd.DataFrame(
        {
            "status": ["ok", "error"],
            "n_leaves": [3, None],
            "leaf_area_mm2": [None, None],
            "scale_source": ["none", ""],
        }
    )
    plots.plot_collection(unscaled, tmp_path / "c.png")  # a table from before mask_doubt
    with_doubt = unscaled.assign(mask_doubt=[0.3, None])  # the error row has none
    plots.plot_collection(with_doubt, tmp_path / "d.png")
    purple = np.array([148, 103, 189])  # tab:purple, the doubt histogram's bars
    for name, bars in (("c.png", False), ("d.png", True)):
        with Image.open(tmp_path / name) as im:
            rgb = np.asarray(im.convert("RGB")).astype(int)
        bottom = rgb[2 * rgb.shape[0] // 3 :]
        assert (np.abs(bottom - purple).sum(axis=2) < 10).any() == bars, name
    for name in ("t.png", "e.png", "c.png"):
        with Image.open(tmp_path / name) as im:
            assert im.format == "PNG" and im.size[0] > 500
