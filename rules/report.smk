rule html_report:
    input:
        unpack(report_inputs),
    output:
        html=report(
            f"{RESULTS}/report/index.html",
            caption="../report/html_report.rst",
            category="Report",
        ),
        # the report's main figures as PNG files, for `snakemake --report report.zip`
        figures=report(
            directory(f"{RESULTS}/report/figures"),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="Figures",
        ),
    log:
        f"{LOGS}/html_report.log",
    conda:
        "../envs/report.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        bids_dir=BIDS,
        deriv_dir=DERIV,
        options=lambda wildcards: stage_config("report", "stats", "analysis", "groups"),
    script:
        "../scripts/html_report.py"
