# The intact-leaf classifier (Hussein et al. 2021) between predict and measure: trained on the
# components matched to synthetic truth and a person's labels, then every component scored.
if CLASSIFY and not config["classify"]["model"]:

    rule classify_train:
        input:
            unpack(classify_train_input),
        output:
            model=directory(res("classify/model")),
            examples=res("classify/training_examples.csv"),
            history=res("classify/history.csv"),
        log:
            res("logs/classify_train.log"),
        benchmark:
            res("benchmarks/classify_train.tsv")
        conda:
            "../../envs/herbseg.yaml"
        threads: 1
        resources:
            mem_mb=4000,
            runtime=120,
        params:
            classify=config["classify"],
            measure=config["measure"],
            postprocess=config["postprocess"],
        script:
            "../scripts/classify_train.py"


if CLASSIFY:

    rule classify:
        input:
            sheets=res("ingest/shards/{shard}.csv"),
            predictions=res("predict/{shard}/predict.csv"),
            model=classifier_model(),
        output:
            res("classify/{shard}/leaf_class.csv"),
        log:
            res("logs/classify/{shard}.log"),
        benchmark:
            res("benchmarks/classify/{shard}.tsv")
        conda:
            "../../envs/herbseg.yaml"
        threads: 1
        resources:
            mem_mb=mem_for_sheets(48),
            runtime=shard_runtime(0.25, parallel=False),
        params:
            classify=config["classify"],
            measure=config["measure"],
            postprocess=config["postprocess"],
        script:
            "../scripts/classify.py"


# Contact sheets of the kept and rejected leaves, and every verdict as a labels CSV to correct.
rule leaf_gallery:
    input:
        leaves=res("leaf_traits.csv"),
        manifest=res("ingest/manifest.csv"),
        predictions=prediction_tables,
    output:
        kept=report(
            res("report/leaves/kept.png"),
            caption="../report/leaves.rst",
            category="Leaves",
            labels={"leaves": "kept as intact"},
        ),
        rejected=report(
            res("report/leaves/rejected.png"),
            caption="../report/leaves.rst",
            category="Leaves",
            labels={"leaves": "rejected"},
        ),
        labels=res("report/leaves/leaf_labels.csv"),
    log:
        res("logs/report/leaf_gallery.log"),
    benchmark:
        res("benchmarks/report/leaf_gallery.tsv")
    localrule: True
    conda:
        "../../envs/herbseg.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        report=config["report"],
    script:
        "../scripts/leaf_gallery.py"
