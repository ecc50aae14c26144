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
        options=lambda wildcards: stage_config(
            "groups", "regions", "sequences", "analysis"
        ),
    script:
        "../scripts/inventory.py"
