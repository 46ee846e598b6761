# Every ok sheet of a shard into the square frame, masks with nearest-neighbour, plus geometry.
rule resize:
    input:
        sheets=res("ingest/shards/{shard}.csv"),
    output:
        table=res("resize/{shard}/resize.csv"),
        images=directory(res("resize/{shard}/images")),
        masks=directory(res("resize/{shard}/masks")),
    log:
        res("logs/resize/{shard}.log"),
    benchmark:
        res("benchmarks/resize/{shard}.tsv")
    conda:
        "../../envs/herbseg.yaml"
    threads: config["threads"]["resize"]
    resources:
        mem_mb=mem_for_sheets(8, per_thread=True),
        runtime=shard_runtime(0.1),
    params:
        resize=config["resize"],
        mask_class=config["model"]["mask_class"],
        max_megapixels=config["ingest"]["max_megapixels"],
    script:
        "../scripts/resize.py"
