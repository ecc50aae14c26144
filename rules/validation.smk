rule recovery:
    input:
        tables=expand(f"{RESULTS}/stats/{{name}}.tsv", name=STATS_TABLES),
        truth=TRUTH,
    output:
        table=report(
            f"{RESULTS}/validation/recovery.tsv",
            caption="../report/recovery.rst",
            category="Validation",
        ),
        summary=f"{RESULTS}/validation/recovery_summary.tsv",
    log:
        f"{LOGS}/recovery.log",
    conda:
        "../envs/stats.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        options=job_param("recovery"),
    script:
        "../scripts/recovery.py"
