rule html_report:
    input:
        unpack(report_inputs),
    output:
        report(
            f"{RESULTS}/report/index.html",
            caption="../report/html_report.rst",
            category="Report",
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
