# Crops of the detected scales with their measured cm marks (a sample, and every refused or
# low-confidence one), and the sheets whose scale was refused, in ingest/problems.csv's columns.
rule scale_evidence:
    input:
        leaf_area=res("leaf_area.csv"),
    output:
        crops=report(
            directory(res("report/scale_evidence")),
            patterns=["{reason}/{sheet}.png"],
            caption="../report/scale_evidence.rst",
            category="Scales",
            subcategory="{reason}",
            labels={"sheet": "{sheet}"},
        ),
        problems=res("measure/scale_problems.csv"),
    log:
        res("logs/report/scale_evidence.log"),
    benchmark:
        res("benchmarks/report/scale_evidence.tsv")
    conda:
        "../../envs/herbseg.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        report=config["report"],
        measure=config["measure"],
    script:
        "../scripts/scale_evidence.py"
