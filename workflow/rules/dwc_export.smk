# The measurements as a Darwin Core Archive (MeasurementOrFact extension + occurrence core).
rule dwc_export:
    input:
        leaf_area=res("leaf_area.csv"),
        leaf_traits=res("leaf_traits.csv"),
        model=predict_model(),
    output:
        mof=res("dwc/measurementorfact.txt"),
        core=res("dwc/occurrence.txt"),
        meta=res("dwc/meta.xml"),
    log:
        res("logs/dwc_export.log"),
    benchmark:
        res("benchmarks/dwc_export.tsv")
    localrule: True
    conda:
        "../../envs/herbseg.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        id_column=config["dwc_export"]["id_column"],
    script:
        "../scripts/dwc_export.py"
