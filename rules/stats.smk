STATS_REPORT_TABLES = (
    "group_comparisons",
    "correlations",
    "longitudinal_parallel",
    "crossover",
    "exclusions",
)


rule study_table:
    input:
        fitted=fit_manifests,
        qc=f"{RESULTS}/qc/qc.tsv",
        participants=f"{INVENTORY}/participants.tsv",
    output:
        table=report(
            f"{RESULTS}/metabolites.tsv",
            caption="../report/metabolites.rst",
            category="Study table",
        ),
        sidecar=f"{RESULTS}/metabolites.json",
    log:
        f"{LOGS}/study_table.log",
    conda:
        "../envs/stats.yaml"
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        sessions=sessions_tables,
        options=job_param("study_table"),
    script:
        "../scripts/study_table.py"


rule statistics:
    input:
        table=f"{RESULTS}/metabolites.tsv",
    output:
        # the main tables carry a caption in Snakemake's own report (report/stats_<name>.rst)
        tables=[
            (
                report(
                    f"{RESULTS}/stats/{name}.tsv",
                    caption=f"../report/stats_{name}.rst",
                    category="Statistics",
                    labels={"table": name},
                )
                if name in STATS_REPORT_TABLES
                else f"{RESULTS}/stats/{name}.tsv"
            )
            for name in STATS_TABLES
        ],
    log:
        f"{LOGS}/statistics.log",
    benchmark:
        f"{RESULTS}/benchmarks/statistics.tsv"
    conda:
        "../envs/stats.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        options=job_param("statistics"),
    script:
        "../scripts/statistics.py"
