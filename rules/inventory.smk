checkpoint inventory:
    input:
        unpack(inventory_inputs),
    output:
        scans=report(
            f"{INVENTORY}/scans.tsv",
            caption="../report/inventory.rst",
            category="Study inventory",
        ),
        participants=f"{INVENTORY}/participants.tsv",
        sessions=f"{INVENTORY}/sessions.tsv",
    log:
        f"{LOGS}/inventory.log",
    conda:
        "../envs/painmrs.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        bids_dir=BIDS,
        # written by the job only when their content changes (not outputs: Snakemake would
        # delete them first, and every batch would rerun)
        batches_dir=BATCH_SLICES,
        basis_dir=BASIS_SLICES,
        n_batches=N_BATCHES,
        deriv_dir=DERIV,
        batch_manifests=f"{RESULTS}/batches",
        options=inventory_param(),
    script:
        "../scripts/inventory.py"
