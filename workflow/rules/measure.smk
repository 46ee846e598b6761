# Leaf area, leaf count and per-leaf traits per sheet, with the source of each sheet's scale.
rule measure:
    input:
        unpack(scale_table_input),
        unpack(classify_verdicts),
        sheets=res("ingest/shards/{shard}.csv"),
        predictions=res("predict/{shard}/predict.csv"),
    output:
        sheets=res("measure/{shard}/leaf_area.csv"),
        leaves=res("measure/{shard}/leaf_traits.csv"),
    log:
        res("logs/measure/{shard}.log"),
    benchmark:
        res("benchmarks/measure/{shard}.tsv")
    conda:
        "../../envs/herbseg.yaml"
    threads: config["threads"]["measure"]
    resources:
        mem_mb=mem_for_sheets(48, per_thread=True),
        runtime=shard_runtime(0.25, parallel=False),
    params:
        measure=config["measure"],
        postprocess=config["postprocess"],
    script:
        "../scripts/measure.py"
