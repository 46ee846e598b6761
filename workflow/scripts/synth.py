"""Generate the synthetic demo collection (rule synth)."""

from pathlib import Path

from herbseg.io.logs import job_log
from herbseg.synth.plant import generate_plant_collection
from herbseg.synth.sheets import generate_collection

with job_log(snakemake.log[0]) as log:
    p = snakemake.params.synth
    out = Path(snakemake.output.sheets).parent
    # model.mask_class plant: whole plants marked (stems, roots, flowers), real leaf colours.
    plant = snakemake.params.mask_class == "plant"
    generate = generate_plant_collection if plant else generate_collection
    truth = generate(
        out,
        p["n_sheets"],
        p["seed"],
        width=p["width"],
        height=p["height"],
        dpi=p["dpi"],
        workers=snakemake.threads,
        scale_kinds=tuple(p["scale_kinds"]),
        damage=p["damage"],
    )
    for name, target in (
        ("sheets", snakemake.output.sheets),
        ("masks", snakemake.output.masks),
        ("truth.csv", snakemake.output.truth),
    ):
        if Path(out / name).resolve() != Path(target).resolve():
            raise ValueError(f"synth writes {out / name}, but the config names {target}")
    log(f"generated {len(truth)} sheets into {out}")
