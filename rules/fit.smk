rule basis_set:
    input:
        sample_scan=basis_slice,
        sample=basis_sample_scan,
        basis=user_basis_files,
    output:
        directory(f"{RESULTS}/basis/{{acq}}"),
    log:
        f"{LOGS}/basis/{{acq}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/basis/{{acq}}.tsv"
    wildcard_constraints:
        acq=ACQ_PATTERN,
    conda:
        "../envs/spectra.yaml"
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        options=lambda wildcards: job_param("basis_set", wildcards.acq),
        sample=basis_sample_path,
    script:
        "../scripts/basis_set.py"


rule fit_batch:
    input:
        scans=batch_slice,
        processed=f"{RESULTS}/batches/process/{{batch}}.tsv",
        basis=batch_basis_dirs,
    output:
        f"{RESULTS}/batches/fit/{{batch}}.tsv",
    log:
        f"{LOGS}/fit/{{batch}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/fit/{{batch}}.tsv"
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
        options=job_param("fit_batch"),
    script:
        "../scripts/fit_batch.py"
