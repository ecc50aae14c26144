rule convert_vendor:
    input:
        vendor_source,
    output:
        f"{BIDS}/{{mrsfile}}",
    log:
        f"{LOGS}/convert/{{mrsfile}}.log",
    wildcard_constraints:
        mrsfile=VENDOR_PATTERN,
    conda:
        "../envs/convert.yaml"
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        fmt=vendor_format,
    script:
        "../scripts/convert_vendor.py"
