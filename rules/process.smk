rule process_batch:
    input:
        scans=batch_slice,
        raw=batch_raw_inputs,
    output:
        f"{RESULTS}/batches/process/{{batch}}.tsv",
    log:
        f"{LOGS}/process/{{batch}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/process/{{batch}}.tsv"
    conda:
        "../envs/spectra.yaml"
    threads: EXEC.threads_per_job
    resources:
        mem_mb=EXEC.mem_mb_per_job,
        runtime=batch_runtime,
    params:
        bids_dir=BIDS,
        deriv_dir=DERIV,
        stems=batch_stems,
        # the job's only configuration, and its rerun trigger (rules/common.smk: job_param)
        options=job_param("process_batch"),
    script:
        "../scripts/process_batch.py"


rule qc_table:
    input:
        processed=process_manifests,
        fitted=fit_manifests,
    output:
        report(
            f"{RESULTS}/qc/qc.tsv",
            caption="../report/qc.rst",
            category="Quality control",
        ),
    log:
        f"{LOGS}/qc_table.log",
    conda:
        "../envs/spectra.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/qc_table.py"
