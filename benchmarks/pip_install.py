"""`pip install .` into a fresh venv brings everything the workflow and the `herbseg` command need.

A real fresh venv (no --system-site-packages), filled by pip from its configured indexes (here the
local wheel cache). Then, with only that venv: every herbseg module imports, `herbseg --version`,
`herbseg check` on a small folder, and a Snakemake dry run of the workflow (which imports the
packages every rule's script needs at parse and plan time) work; after `make demo`, the fresh
venv's `herbseg predict` on one demo sheet must give the workflow's leaf area for it. Minutes
(torch is large), so it is a benchmark, not a test.

Run: .venv/bin/python benchmarks/pip_install.py [--demo demo --sheet synth_0001]
     -> benchmarks/results/pip_install.txt
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import write_report  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "pip_install.txt"


def sh(cmd: list[str], cwd: Path, env: dict) -> tuple[int, str, float]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    return proc.returncode, (proc.stdout + proc.stderr)[-1500:], time.perf_counter() - start


def demo_parity(demo: Path, sheet: str, out: Path) -> tuple[bool, str]:
    """The fresh venv's leaf area of ``sheet`` against the demo run's ``leaf_area.csv``."""
    import pandas as pd

    mine = pd.read_csv(out / "leaf_area.csv").set_index("sheet_id").loc[sheet]
    flow = pd.read_csv(demo / "results/leaf_area.csv").set_index("sheet_id").loc[sheet]
    same = (
        mine["leaf_px"] == flow["leaf_px"]
        and abs(mine["leaf_area_mm2"] - flow["leaf_area_mm2"]) <= 1e-9 * flow["leaf_area_mm2"]
    )
    return bool(same), (
        f"{sheet}: herbseg predict {mine['leaf_area_mm2']:.4f} mm² ({mine['leaf_px']} px), "
        f"workflow {flow['leaf_area_mm2']:.4f} mm² ({flow['leaf_px']} px)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--demo", type=Path, help="a finished demo folder (make demo's demo/)")
    ap.add_argument("--sheet", default="synth_0001")
    args = ap.parse_args()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [f"# pip install . into a fresh venv ({when})",
             f"load: {os.getloadavg()[0]:.1f} (1-min average at start)"]  # fmt: skip
    ok = True
    with tempfile.TemporaryDirectory(prefix="herbseg-venv-") as tmp:
        venv, work = Path(tmp) / "venv", Path(tmp) / "work"
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["PATH"] = f"{venv / 'bin'}:{env['PATH']}"
        py = str(venv / "bin" / "python")
        src = REPO / "src"
        modules = sorted(  # every module of the package, subpackages' included
            ".".join(f.relative_to(src).with_suffix("").parts).removesuffix(".__init__")
            for f in (src / "herbseg").rglob("*.py")
        )
        (work / "sheets").mkdir(parents=True)
        from PIL import Image

        Image.new("RGB", (60, 90), (230, 225, 200)).save(work / "sheets" / "a.jpg")
        (work / "masks").mkdir()
        Image.new("L", (60, 90), 0).save(work / "masks" / "a.png")
        # a valid training config (the check refuses annotations: null without a model), with
        # the encoder whose ImageNet weights come in a package: nothing is downloaded
        (work / "config.yaml").write_text(
            "sheets: sheets\nannotations: masks\n"
            "model: {encoder: timm-tf_efficientnet_lite0, encoder_weights: imagenet}\n"
        )
        steps = [
            ("create venv", [sys.executable, "-m", "venv", str(venv)], REPO),
            ("pip install .", [py, "-m", "pip", "install", "-q", str(REPO)], REPO),
            ("import every module", [py, "-c", "import importlib; [importlib.import_module("
             f"m) for m in {modules!r}]; print('imported', {len(modules)})"], work),
            ("herbseg --version", [str(venv / "bin" / "herbseg"), "--version"], work),
            ("herbseg check", [str(venv / "bin" / "herbseg"), "check", "--config",
                               "config.yaml"], work),
            ("snakemake dry run", [str(venv / "bin" / "snakemake"), "-n", "--snakefile",
                                   str(REPO / "Snakefile"), "--configfile", "config.yaml",
                                   "--cores", "1", "--directory", str(work)], work),
            ("pip check", [py, "-m", "pip", "check"], work),
        ]  # fmt: skip
        if args.demo:
            demo = args.demo.resolve()
            steps.append((
                "herbseg predict, a demo sheet",
                [str(venv / "bin" / "herbseg"), "predict",
                 str(demo / "sheets" / f"{args.sheet}.jpg"),
                 "--model", str(demo / "results/train/model"), "--config",
                 str(REPO / "config/config.yaml"), "--config", str(REPO / "config/demo.yaml"),
                 "--out", str(work / "predict")],
                work,
            ))  # fmt: skip
        lines.append("| step | exit | seconds |")
        lines.append("|---|---|---|")
        for name, cmd, cwd in steps:
            rc, tail, took = sh(cmd, cwd, env)
            lines.append(f"| {name} | {rc} | {took:.0f} |")
            if rc != 0:
                ok = False
                lines.append(f"\n{name} failed:\n```\n{tail}\n```")
                break
            if name in ("herbseg check", "herbseg --version"):
                lines.append(f"|  ↳ `{tail.strip().splitlines()[0]}` | | |")
            if name == "herbseg predict, a demo sheet":
                same, text = demo_parity(demo, args.sheet, work / "predict")
                ok = ok and same
                lines.append(f"|  ↳ {'same' if same else 'DIFFERENT'}: {text} | | |")
    lines.append(
        f"\nresult: {'everything the workflow needs came with pip install .' if ok else 'FAILED'}"
    )
    write_report(lines, OUT)
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
