# The run bundle: a Workflow Run RO-Crate to deposit. Masks are referenced by size and sha256,
# hashed per shard beside the predictions so a large collection hashes in parallel jobs.
rule mask_checksums:
    input:
        table=res("predict/{shard}/predict.csv"),
        masks=res("predict/{shard}/masks"),
    output:
        res("checksums/masks/{shard}.csv"),
    log:
        res("logs/mask_checksums/{shard}.log"),
    benchmark:
        res("benchmarks/mask_checksums/{shard}.tsv")
    conda:
        "../../envs/herbseg.yaml"
    threads: 2
    resources:
        mem_mb=1000,
        runtime=60,
    script:
        "../scripts/mask_checksums.py"


# The report is an input only once it exists (`snakemake --report` runs after the workflow):
# generating it makes the next run refresh the bundle.
rule bundle:
    input:
        unpack(bundle_report_input),
        unpack(bundle_model_input),
        unpack(bundle_dwc_input),
        manifest=res("ingest/manifest.csv"),
        problems=res("ingest/problems.csv"),
        shards=res("ingest/shards.csv"),
        leaf_area=res("leaf_area.csv"),
        leaf_traits=res("leaf_traits.csv"),
        specimens=res("specimens.csv"),
        collection=res("report/collection.png"),
        overlays=res("report/overlays"),
        checksums=mask_checksum_tables,
    output:
        directory(res("bundle")),
    log:
        res("logs/bundle.log"),
    benchmark:
        res("benchmarks/bundle.tsv")
    localrule: True
    conda:
        "../../envs/herbseg.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        bundle=config["bundle"],
        configfiles=[str(f) for f in workflow.configfiles],
        model=predict_model(),
    script:
        "../scripts/bundle.py"
