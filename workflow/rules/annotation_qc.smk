# Every training mask checked against its own sheet before training: a score and reason per mask
# in ingest/annotation_qc.csv; masks below annotation_qc.min_score are left out of the split (their
# rows say why), and the lowest-scoring masks are drawn for the report.
rule annotation_qc:
    input:
        # the annotated shards' lists, not the manifest: unannotated sheets added to the
        # collection must not rerun QC, split and training
        shards=annotated_shard_lists,
    output:
        table=res("ingest/annotation_qc.csv"),
        overlays=report(
            directory(res("report/annotation_qc")),
            patterns=["{rank}_{sheet}.jpg"],
            caption="../report/annotation_qc.rst",
            category="Annotation QC",
            labels={"rank": "{rank}", "sheet": "{sheet}"},
        ),
    log:
        res("logs/annotation_qc.log"),
    benchmark:
        res("benchmarks/annotation_qc.tsv")
    conda:
        "../../envs/herbseg.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        qc=config["annotation_qc"],
        mask_class=config["model"]["mask_class"],
        aspect_tolerance=config["ingest"]["mask_aspect_tolerance"],
    script:
        "../scripts/annotation_qc.py"
