"""Find sheets and annotations, write the manifest, problems and shard lists (rule ingest)."""

from pathlib import Path

from herbseg.io.files import write_csv
from herbseg.io.logs import job_log
from herbseg.stages.ingest import ingest

with job_log(snakemake.log[0]) as log:
    p = snakemake.params
    manifest, problems, shards = ingest(
        p.sheets,
        p.annotations,
        Path(snakemake.output.shards).parent,
        extensions=p.ingest["extensions"],
        max_megapixels=p.ingest["max_megapixels"],
        checksum=p.ingest["checksum"],
        shard_size=p.ingest["shard_size"],
        media_root=p.ingest["media_root"],
        id_column=p.ingest["id_column"],
        coco_categories=p.ingest["coco_categories"],
        mask_aspect_tolerance=p.ingest["mask_aspect_tolerance"],
        threads=snakemake.threads,
        log=log,
    )
    write_csv(manifest, snakemake.output.manifest)
    write_csv(problems, snakemake.output.problems)
    write_csv(shards, snakemake.output.shards)
