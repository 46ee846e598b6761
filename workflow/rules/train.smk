# DeepLabV3+ fine-tuning. The per-epoch checkpoint beside the outputs is not declared as one, so
# Snakemake does not delete it before a rerun and training resumes after a crash.
rule train:
    input:
        unpack(train_init_input),
        split=res("split/split.csv"),
        tables=annotated_resize_tables,
    output:
        model=directory(res("train/model")),
        history=res("train/history.csv"),
    log:
        res("logs/train.log"),
    benchmark:
        res("benchmarks/train.tsv")
    conda:
        "../../envs/herbseg.yaml"
    threads: config["threads"]["train"]
    resources:
        mem_mb=mem_for_frames(
            config["train"]["batch_size"], config["resize"]["size"], 6000
        ),
        runtime=train_runtime(),
        gpu=1 if uses_cuda("train") else 0,
    params:
        model=config["model"],
        train=config["train"],
    script:
        "../scripts/train.py"
