# Candidate masks of unannotated sheets as COCO JSON (`snakemake bootstrap`): correct them in
# CVAT or Label Studio, export COCO, and point `annotations` at the export to train on them.
rule bootstrap:
    input:
        unpack(bootstrap_input),
    output:
        coco=res("bootstrap/candidates.json"),
        table=res("bootstrap/candidates.csv"),
    log:
        res("logs/bootstrap.log"),
    benchmark:
        res("benchmarks/bootstrap.tsv")
    conda:
        "../../envs/herbseg.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        bootstrap=config["bootstrap"],
        baseline=config["baseline"],
        postprocess=config["postprocess"],
        sheets=config["sheets"],
        source=bootstrap_source(),
    script:
        "../scripts/bootstrap.py"
