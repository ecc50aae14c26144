# Shared set-up: config validation (before any job runs), paths, and the input functions
# that turn the inventory's scans table into the workflow's wildcards.
import os
import re
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")

# The one place that puts the library on the path: a workflow checkout runs its own src/
# (before any installed painmrs, which may be another version), in this process and, through
# PYTHONPATH, in every job it starts (scripts, shell rules, cluster jobs).
_SRC = Path(workflow.basedir) / "src"
if (_SRC / "painmrs").is_dir():
    sys.path.insert(0, str(_SRC))
    # (not an envvars directive: nothing is required of the user's environment)
    _ENV = os.environ
    _ENV.update(
        PYTHONPATH=os.pathsep.join(p for p in (str(_SRC), _ENV.get("PYTHONPATH")) if p)
    )

from painmrs.configuration import job_options, load_study_options  # noqa: E402
from painmrs.jobs.study import STATS_TABLES  # noqa: E402
from painmrs.options import supplied_basis_paths  # noqa: E402
from painmrs.study.config import read_yaml_strict  # noqa: E402
from painmrs.study.incremental import invalidate_tampered  # noqa: E402
from painmrs.study.inventory import check_covariates_on_disk, read_scans  # noqa: E402


def _config_source():
    files = [str(f) for f in workflow.overwrite_configfiles]
    return ", ".join(files) if files else "config/config.yaml"


# Snakemake's YAML loader keeps the last of two equal keys silently: re-read the config
# file(s) with painmrs' strict loader, which refuses them (naming the file and the key).
for _configfile in workflow.overwrite_configfiles or ["config/config.yaml"]:
    if Path(_configfile).is_file():
        read_yaml_strict(_configfile)

# The checks `painmrs validate` runs too (one function): our validator words errors as
# "<file>: field 'groups.control': ..."; snakemake's validate runs the same schema (and fills
# its defaults) in the snakemake-workflows idiom; then every stage's options are parsed, once,
# into STUDY (painmrs.configuration.StudyOptions). Each rule's `options` param is the JSON of
# exactly the options its job uses (job_param): its rerun trigger and the only configuration
# the job receives. The config file's name is not in it, so the same config under another
# name reruns nothing.
CONFIG_SOURCE = _config_source()
STUDY = load_study_options(config, CONFIG_SOURCE)


def job_param(rule, acq=None):
    """The rule's options as canonical JSON (see painmrs.configuration.job_options)."""
    return job_options(STUDY, rule, acq)


def inventory_param():
    """What the inventory reads of the validated config (it checks scans, participants and
    sessions against it), as canonical JSON: only that, so that e.g. a stats.power change does
    not rerun the inventory (and, after it, the QC table)."""
    import json

    stats = config.get("stats") or {}
    chosen = {
        name: config.get(name)
        for name in ("groups", "regions", "sequences", "analysis")
    }
    # the covariates the inventory checks against the tables (study.inventory.configured_covariates)
    chosen["stats"] = {
        **{
            s: {"covariates": stats[s]["covariates"]}
            for s in ("group_comparison", "correlation")
            if "covariates" in (stats.get(s) or {})
        },
        "longitudinal": [  # every entry, so that error keys keep their index
            {"covariates": x.get("covariates")} if isinstance(x, dict) else {}
            for x in (stats.get("longitudinal") or [])
        ],
    }
    # a configured water TE/TR: what the water references are checked against
    quantify = config.get("quantify") or {}
    chosen["quantify"] = {
        k: quantify[k] for k in ("water_te_s", "water_tr_s") if k in quantify
    }
    chosen["execution"] = {"on_bad_scan": STUDY.execution.on_bad_scan}
    return json.dumps(chosen, sort_keys=True)


# A study on disk: the covariates the config names must be columns of its tables (the
# inventory job checks it again, for a simulated or converted study).
if not config["dataset"]["simulate"]:
    check_covariates_on_disk(config, config["dataset"]["bids_dir"], CONFIG_SOURCE)

RESULTS = config["results_dir"]
BIDS = config["dataset"]["bids_dir"]
TRUTH = config["dataset"].get("truth_dir", "")
SIMULATE = config["dataset"]["simulate"]
LOGS = f"{RESULTS}/logs"
INVENTORY = f"{RESULTS}/inventory"
DERIV = f"{RESULTS}/derivatives"
EXEC = STUDY.execution
# Batches keyed by participant (stable hash into a fixed number of buckets; see
# painmrs.study.layout.subject_batch), each reading only its slice of the scans table.
N_BATCHES = EXEC.batches
BATCH_SLICES = f"{INVENTORY}/batches"
BASIS_SLICES = f"{INVENTORY}/basis"

# Integrity of the per-scan derivatives, before the DAG is built: a batch whose files were
# edited or deleted since it wrote them (SHA-256 in its manifest) loses that manifest, so
# Snakemake rebuilds the batch before qc_table / study_table read it (an edited value is never
# absorbed). Only the main process checks (not each cluster job's inner snakemake); a dry run
# only logs. (Done here: a manifest removed while the DAG is built is not seen as missing;
# qc.tsv goes too, see invalidate_tampered.)
_LOOK_ONLY = {"--dry-run", "--dryrun", "--lint", "--summary", "--detailed-summary"}
_LOOK_ONLY_SHORT = re.compile(r"^-[A-Za-z]*[nSD][A-Za-z]*$")  # -n, -np, -S, -D
# (workflow.dryrun is not yet known while the Snakefile is parsed)
_DRY_RUN = workflow.dryrun or any(
    a in _LOOK_ONLY or _LOOK_ONLY_SHORT.match(a) for a in sys.argv[1:]
)
if workflow.is_main_process:
    invalidate_tampered(
        sorted(Path(RESULTS, "batches").glob("*/*.tsv")),
        dry_run=_DRY_RUN,
        slices=sorted(Path(BATCH_SLICES).glob("*.tsv")),
        batches_root=Path(RESULTS, "batches"),
        downstream=[f"{RESULTS}/qc/qc.tsv"],
        # files already verified, by size and mtime: Snakemake's working-directory state, not a
        # result (mtimes differ between runs of the same study)
        verified_cache=".snakemake/painmrs/verified-derivatives.json",
        incomplete_dir=".snakemake/incomplete",
    )
ACQ_PATTERN = "|".join(re.escape(a) for a in config["sequences"])


# ---- vendor conversion targets (from the config's dataset.vendor_files) -------------------
def _vendor_targets():
    """BIDS-relative output path -> (vendor file, spec2nii format) for every vendor file."""
    targets = {}
    for entry in config["dataset"].get("vendor_files", []):
        sub = f"sub-{entry['subject']}"
        ses = f"ses-{entry['session']}" if entry.get("session") else ""
        folder = os.path.join(*[p for p in (sub, ses, "mrs") if p])
        stem = "_".join(
            p for p in (sub, ses, f"acq-{entry['acq']}", f"voi-{entry['voi']}") if p
        )
        targets[f"{folder}/{stem}_svs.nii.gz"] = (entry["svs"], entry["format"])
        if entry.get("mrsref"):
            targets[f"{folder}/{stem}_mrsref.nii.gz"] = (
                entry["mrsref"],
                entry["format"],
            )
    return targets


VENDOR_TARGETS = _vendor_targets()
VENDOR_PATTERN = "|".join(re.escape(t) for t in VENDOR_TARGETS) or "(?!x)x"


def vendor_source(wildcards):
    source, fmt = VENDOR_TARGETS[wildcards.mrsfile]
    if fmt == "philips":
        spar = [
            str(Path(source).with_suffix(ext))
            for ext in (".spar", ".SPAR")
            if Path(source).with_suffix(ext).exists()
        ]
        return [source] + spar[:1]
    return [source]


def vendor_format(wildcards):
    return VENDOR_TARGETS[wildcards.mrsfile][1]


# ---- inventory inputs -----------------------------------------------------------------------
def inventory_inputs(wildcards):
    """What the inventory depends on: the simulated study, converted files, or the BIDS files."""
    if SIMULATE:
        return {"bids": BIDS}
    files = {"participants": f"{BIDS}/participants.tsv"}
    converted = [f"{BIDS}/{t}" for t in VENDOR_TARGETS]
    on_disk = sorted(
        str(p)
        for p in Path(BIDS).glob("sub-*/**/*")
        if p.is_file() and p.name.endswith((".nii.gz", ".nii", ".tsv"))
    )
    files["data"] = sorted(set(converted) | set(on_disk))
    return files


# ---- wildcards from the scans table (after the inventory checkpoint) ------------------------
def scans_table():
    return read_scans(checkpoints.inventory.get().output.scans)


def all_batches(wildcards=None):
    """The current batches: one slice file each (written by the inventory checkpoint)."""
    checkpoints.inventory.get()
    return sorted(p.stem for p in Path(BATCH_SLICES).glob("*.tsv"))


def batch_slice(wildcards):
    """The batch's slice of the scans table: its only inventory input."""
    checkpoints.inventory.get()
    return f"{BATCH_SLICES}/{wildcards.batch}.tsv"


def batch_scans(batch):
    """Rows of the scans table handled by batch ``b0003`` (its slice)."""
    checkpoints.inventory.get()
    return read_scans(f"{BATCH_SLICES}/{batch}.tsv")


def batch_stems(wildcards):
    return list(batch_scans(wildcards.batch)["stem"])


def process_manifests(wildcards):
    return expand(f"{RESULTS}/batches/process/{{batch}}.tsv", batch=all_batches())


def batch_raw_inputs(wildcards):
    """The batch's raw scans. A simulated study is one directory output (tracked through the
    inventory), so its files are not listed one by one."""
    if SIMULATE:
        return []
    rows = batch_scans(wildcards.batch)
    files = [f"{BIDS}/{p}" for p in rows["svs"]]
    files += [f"{BIDS}/{p}" for p in rows["mrsref"] if p]
    return files


def fit_manifests(wildcards):
    return expand(f"{RESULTS}/batches/fit/{{batch}}.tsv", batch=all_batches())


def batch_basis_dirs(wildcards):
    """The bases of the batch's usable scans (an acq whose scans are all excluded has none)."""
    scans = batch_scans(wildcards.batch)
    acqs = sorted(set(scans.loc[scans["exclusion"] == "", "acq"]))
    return [f"{RESULTS}/basis/{acq}" for acq in acqs]


def basis_slice(wildcards):
    """What defines the acquisition's basis beyond its config: its sample scan (path, TE,
    field), rewritten by the inventory only when these change."""
    checkpoints.inventory.get()
    return f"{BASIS_SLICES}/{wildcards.acq}.tsv"


def basis_sample_path(wildcards):
    """One raw scan of this acquisition: the basis is simulated on its frequency and grid."""
    import pandas as pd

    sample = pd.read_csv(basis_slice(wildcards), sep="\t", dtype=str)
    return f"{BIDS}/{sample['svs'].iloc[0]}"


def basis_sample_scan(wildcards):
    return [] if SIMULATE else [basis_sample_path(wildcards)]


def user_basis_files(wildcards):
    """The files of the configured basis (sequences.<acq>.basis: one path, or {diff, off} for
    MEGA-PRESS; a folder is listed file by file, so an edited basis reruns the fits); [] when
    the basis is simulated."""
    files = []
    for path in supplied_basis_paths(config["sequences"][wildcards.acq].get("basis")):
        if Path(path).is_dir():
            files += sorted(
                str(p)
                for p in Path(path).iterdir()
                if p.is_file() and not p.name.startswith(".")
            )
        else:
            files.append(path)
    return files


def sessions_tables(wildcards=None):
    """Per-subject sessions tables of the scanned subjects (validated by the inventory)."""
    subjects = sorted(set(scans_table()["subject"]))
    paths = [Path(BIDS, s, f"{s}_sessions.tsv") for s in subjects]
    return [str(p) for p in paths if p.is_file()]


def report_inputs(wildcards):
    inputs = {
        "table": f"{RESULTS}/metabolites.tsv",
        "qc": f"{RESULTS}/qc/qc.tsv",
        "stats": expand(f"{RESULTS}/stats/{{name}}.tsv", name=STATS_TABLES),
        "fitted": fit_manifests(wildcards),
    }
    if TRUTH:
        inputs["recovery"] = f"{RESULTS}/validation/recovery.tsv"
    return inputs


def batch_runtime(wildcards):
    """Per-subject batches differ in size: the runtime follows the batch's own scan count."""
    n_scans = len(batch_scans(wildcards.batch))
    return int(max(10, EXEC.runtime_min_per_scan * n_scans))


# ---- final targets --------------------------------------------------------------------------
def final_targets(wildcards):
    """The inventory, each later stage's study-level outputs and the run's provenance
    manifest (PROVENANCE_MANIFEST, rules/provenance.smk)."""
    targets = [
        f"{INVENTORY}/scans.tsv",
        f"{RESULTS}/qc/qc.tsv",
        f"{RESULTS}/metabolites.tsv",
        f"{RESULTS}/report/index.html",
    ]
    if TRUTH:
        targets.append(f"{RESULTS}/validation/recovery.tsv")
    targets.append(PROVENANCE_MANIFEST)
    return targets
