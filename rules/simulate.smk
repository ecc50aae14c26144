rule simulate_demo:
    input:
        design=config["dataset"].get("design", []),
    output:
        bids=directory(BIDS),
        truth=directory(TRUTH),
    log:
        f"{LOGS}/simulate_demo.log",
    benchmark:
        f"{RESULTS}/benchmarks/simulate_demo.tsv"
    conda:
        "../envs/simulate.yaml"
    threads: 8  # capped by --cores; the simulator runs this many worker processes
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        size=config["dataset"]["size"],
        seed=config["dataset"]["seed"],
    script:
        "../scripts/simulate_demo.py"
