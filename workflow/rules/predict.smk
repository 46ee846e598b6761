# Batched inference over a shard; masks written in each sheet's own geometry.
rule predict:
    input:
        model=res("train/model"),
        table=res("resize/{shard}/resize.csv"),
    output:
        table=res("predict/{shard}/predict.csv"),
        masks=directory(res("predict/{shard}/masks")),
    log:
        res("logs/predict/{shard}.log"),
    benchmark:
        res("benchmarks/predict/{shard}.tsv")
    threads: config["threads"]["predict"]
    resources:
        mem_mb=mem_for_frames(config["predict"]["batch_size"], config["resize"]["size"]),
        runtime=120,
        gpu=1 if uses_cuda("predict") else 0,
    params:
        predict=config["predict"],
    conda:
        "../../envs/herbseg.yaml"
    script:
        "../scripts/predict.py"
