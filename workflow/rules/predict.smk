# Batched inference over a shard; masks written in each sheet's own geometry.
rule predict:
    input:
        model=predict_model(),
        table=res("resize/{shard}/resize.csv"),
        sheets=res("ingest/shards/{shard}.csv"),
    output:
        table=res("predict/{shard}/predict.csv"),
        masks=directory(res("predict/{shard}/masks")),
    log:
        res("logs/predict/{shard}.log"),
    benchmark:
        res("benchmarks/predict/{shard}.tsv")
    conda:
        "../../envs/herbseg.yaml"
    threads: config["threads"]["predict"]
    resources:
        mem_mb=mem_for_sheets(
            predict_bytes_per_px(),
            per_thread=True,
            base_mb=mem_for_frames(
                config["predict"]["batch_size"], config["resize"]["size"]
            ),
            long_side=config["predict"]["long_side"],
        ),
        runtime=shard_runtime(0.1, 2.0 * (config["resize"]["size"] / 512) ** 2),
        gpu=1 if uses_cuda("predict") else 0,
    params:
        predict=config["predict"],
        max_megapixels=config["ingest"]["max_megapixels"],
    script:
        "../scripts/predict.py"
