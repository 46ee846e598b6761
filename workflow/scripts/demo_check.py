"""Compare the demo's measurements with the generator's truth and print the headline figures."""

from herbseg.io.files import write_csv
from herbseg.io.logs import job_log
from herbseg.reporting.demo import demo_check

with job_log(snakemake.log[0]) as log:
    check = demo_check(
        snakemake.input.leaf_area,
        snakemake.input.leaf_traits,
        snakemake.input.summary,
        snakemake.input.truth,
    )
    write_csv(check, snakemake.output[0])
    for row in check.itertuples():
        log(f"{row.metric}: {row.value:.4f} ({row.detail})")
