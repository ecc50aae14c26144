# Provenance: the last rule of every run writes results/provenance/manifest.json (resolved
# config + SHA-256, input and output hashes, package versions, git commit, seeds); check a
# results directory against it with `painmrs audit RESULTS_DIR`.
import json

from painmrs.provenance.manifest import study_inputs

PROVENANCE_MANIFEST = f"{RESULTS}/provenance/manifest.json"


rule provenance_manifest:
    input:
        # the study's final outputs (rule all's targets, minus this manifest)
        lambda w: [t for t in final_targets(w) if t != PROVENANCE_MANIFEST],
    output:
        PROVENANCE_MANIFEST,
    log:
        f"{LOGS}/provenance_manifest.log",
    conda:
        "../envs/painmrs.yaml"
    resources:
        mem_mb=1000,
        runtime=15,
    params:
        results=lambda w, output: str(Path(output[0]).parent.parent),
        config_json=json.dumps(config, sort_keys=True),
        study_inputs=study_inputs(config, BIDS),
        src=str(Path(workflow.current_basedir).parent / "src"),
        repo=workflow.basedir,
        # results paths not hashed (config provenance.exclude; default: logs, benchmarks,
        # hidden temp files)
        exclude=[
            f"--exclude={p}" for p in config.get("provenance", {}).get("exclude", [])
        ],
    shell:
        "(echo host=$(hostname) SLURM_JOB_ID=${{SLURM_JOB_ID:-none}};"
        " PYTHONPATH={params.src:q}${{PYTHONPATH:+:$PYTHONPATH}}"
        " python -m painmrs.cli manifest {params.results:q}"
        " --config-json {params.config_json:q}"
        " --inputs {params.study_inputs:q} --outputs {input:q}"
        " --repo {params.repo:q} {params.exclude:q}) > {log:q} 2>&1"
