"""The ``herbseg`` command: predict a few sheets, check a config, verify a run bundle.

The workflow (``snakemake``) stays the way to run a collection; this is for the moments around
it: trying a trained model on one sheet, knowing before a run what it will do, and checking a
bundle someone sent.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from herbseg import __version__
from herbseg.config.schema import ConfigError


def _config(args: argparse.Namespace, **overrides: Any) -> dict[str, Any]:
    from herbseg.config.schema import load_config

    return load_config(args.config, **overrides)


def cmd_predict(args: argparse.Namespace) -> int:
    from herbseg.quick import predict_sheets

    # The sheets come from the command line: the config's own `sheets` is not read.
    config = _config(args, sheets=str(Path(args.sheets[0]).parent))
    if args.device:
        config["predict"]["device"] = args.device
    missing = [s for s in args.sheets if not Path(s).is_file()]
    if missing:
        print(f"herbseg: no such sheet file: {', '.join(missing)}", file=sys.stderr)
        return 2
    if not (Path(args.model) / "config.json").is_file():
        print(f"herbseg: --model {args.model!r} is not a saved model folder (no config.json); "
              "give the train/model folder of a run", file=sys.stderr)  # fmt: skip
        return 2

    def warn(message: str) -> None:  # progress stays quiet; what a user must know is printed
        if message.startswith("warning:"):
            print(f"herbseg: {message}", file=sys.stderr)

    table = predict_sheets(
        args.sheets, args.model, args.out, config, threads=args.threads, log=warn
    )
    for row in table.to_dict("records"):
        area = row.get("leaf_area_mm2")
        text = f"{area:.1f} mm²" if isinstance(area, float) and area == area else "no scale"
        if row["status"] != "ok":  # no mask: no leaf count either
            print(f"{row['sheet_id']}\t{row['status']}: {row['error']}")
            continue
        print(f"{row['sheet_id']}\t{text}\t{row.get('n_leaves', '')} leaves")
    print(f"wrote {Path(args.out) / 'leaf_area.csv'}, leaf_traits.csv, masks/ and overlays/")
    return 0 if (table["status"] == "ok").all() else 1


def cmd_check(args: argparse.Namespace) -> int:
    from herbseg.checks.startup import check_config
    from herbseg.plan import describe_plan

    try:
        overrides = {k: getattr(args, k) for k in ("sheets", "annotations", "results")}
        config = _config(args, **overrides)
        check_config(config, local_exec=not args.cluster)
    except ConfigError as exc:
        print(f"herbseg: {exc}", file=sys.stderr)
        return 1
    print(describe_plan(config))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from herbseg.reporting.bundle import verify_bundle

    problems = verify_bundle(args.bundle, args.results)
    for line in problems:
        print(line)
    print(f"{args.bundle}: {'intact' if not problems else f'{len(problems)} problems'}")
    return 1 if problems else 0


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="herbseg", description=__doc__.split("\n")[0])
    ap.add_argument("--version", action="version", version=f"herbseg {__version__}")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("predict", help="masks, overlays and leaf areas of a few sheets")
    p.add_argument("sheets", nargs="+", help="sheet image files")
    p.add_argument("--model", required=True, help="a trained model folder (results/train/model)")
    p.add_argument("--config", action="append", help="the run's config file (resize, predict, "
                   "measure settings); given twice, the second is merged over the first, as "
                   "Snakemake merges --configfile config/config.yaml config/demo.yaml")  # fmt: skip
    p.add_argument("--out", default="herbseg-predict", help="output folder")
    p.add_argument("--device", choices=["auto", "cuda", "cpu"], help="overrides predict.device")
    p.add_argument("--threads", type=int, default=1)
    p.set_defaults(run=cmd_predict)

    c = sub.add_parser("check", help="validate a config and its inputs; print what a run does")
    c.add_argument("--config", action="append", help="a config file (config/config.yaml); "
                   "given twice, the second is merged over the first")  # fmt: skip
    c.add_argument("--sheets", help="overrides the config's sheets")
    c.add_argument("--annotations", help="overrides the config's annotations (null for none)")
    c.add_argument("--results", help="overrides the config's results folder")
    c.add_argument("--cluster", action="store_true", help="jobs run elsewhere: skip the GPU check")
    c.set_defaults(run=cmd_check)

    v = sub.add_parser("verify", help="check a run bundle's files against its checksums")
    v.add_argument("bundle", help="the bundle folder (results/bundle)")
    v.add_argument("--results", help="the run's results folder, to check the listed masks too")
    v.set_defaults(run=cmd_verify)
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.run(args))
    except ConfigError as exc:
        print(f"herbseg: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
