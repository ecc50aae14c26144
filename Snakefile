# painmrs: a reproducible MRS study workflow. The logic lives in src/painmrs; the rules in
# rules/*.smk are thin; config/config.yaml (validated before any job runs) names the study.


# --configfile replaces the demo config rather than merging into it (a study must not
# inherit the demo's groups, regions or designs).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "rules/common.smk"


if SIMULATE:

    include: "rules/simulate.smk"


include: "rules/convert.smk"
include: "rules/inventory.smk"
include: "rules/process.smk"
include: "rules/fit.smk"
include: "rules/stats.smk"
include: "rules/report.smk"


if TRUTH:

    include: "rules/validation.smk"


include: "rules/provenance.smk"


rule all:
    default_target: True
    input:
        final_targets,
