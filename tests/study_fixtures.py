"""Small MRS-BIDS trees for the layout, table and workflow tests (built in tmp_path).

Scans are tiny valid NIfTI-MRS files: the inventory reads their headers (TE, frequency).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

from painmrs.io import nifti_mrs
from painmrs.mrs import MRSData

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

PARTICIPANTS = [
    ("sub-HC001", "HC", "41", "F", "0"),
    ("sub-HC002", "HC", "52", "M", "1"),
    ("sub-CLBP001", "cLBP", "47", "M", "6"),
]


def base_config() -> dict:
    with open(ROOT / "config" / "config.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def write_table(path: Path, header: list[str], rows: list[tuple]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(header)] + ["\t".join(str(c) for c in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


TE_S = {"press": 0.030, "megapress": 0.068}


def tiny_mrs(path: Path, te_s: float, mhz: float = 123.2) -> None:
    """A valid 16-point NIfTI-MRS file (the inventory reads headers and checks the data). A
    water reference (``*_mrsref``) is 1000 x larger: the inventory refuses a "water" reference
    that is not far larger than its scan's residual water."""
    scale = 1000.0 if "_mrsref" in Path(path).name else 1.0
    fid = scale * np.exp(-np.arange(16) / 4.0).astype(complex)
    nifti_mrs.write(MRSData(fid=fid, dwell_s=5e-4, spectrometer_mhz=mhz, header={"EchoTime": te_s, "RepetitionTime": 2.0}), path)


def make_study(root: Path, *, sessions=("baseline", "post"), water=True, participants=PARTICIPANTS) -> Path:
    """sub-*/ses-*/mrs/ with PRESS ACC + MEGA-PRESS thalamus per session, tables included;
    scans are tiny valid NIfTI-MRS files."""
    bids = root / "bids"
    write_table(bids / "participants.tsv", ["participant_id", "group", "age", "sex", "pain_nrs"], list(participants))
    for pid, *_ in participants:
        ses_rows = []
        for ses in sessions or [None]:
            folder = bids / pid / (f"ses-{ses}" if ses else "") / "mrs"
            folder.mkdir(parents=True, exist_ok=True)
            prefix = f"{pid}_ses-{ses}" if ses else pid
            for acq, voi in (("press", "ACC"), ("megapress", "thalamus")):
                stem = f"{prefix}_acq-{acq}_voi-{voi}"
                tiny_mrs(folder / f"{stem}_svs.nii.gz", TE_S[acq])
                if water:
                    tiny_mrs(folder / f"{stem}_mrsref.nii.gz", TE_S[acq])
            if ses:
                ses_rows.append((f"ses-{ses}", "acupuncture", "verum", ses))
        if ses_rows:
            write_table(bids / pid / f"{pid}_sessions.tsv", ["session_id", "study", "arm", "time"], ses_rows)
    return bids


def run(args, cwd=ROOT, timeout=300) -> subprocess.CompletedProcess:
    """A command (snakemake, painmrs ...) with this venv's bin/ first on PATH."""
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def write_config(work: Path, config: dict) -> Path:
    """``work/config/config.yaml`` holding ``config``: a working directory for ``snakemake -d``."""
    (work / "config").mkdir(parents=True, exist_ok=True)
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return work


# ---- a real study: Philips PRESS TE 35 (SDAT/SPAR + water reference) from ../shared/data ------
PHILIPS_TE35 = Path("real") / "philips_press_3T" / "press_te35"  # under the shared data folder
PHILIPS_SUBJECTS = (("01", "01"), ("02", "02"))  # (participant label, source volunteer)
PHILIPS_BATCHES = 1  # execution.batches of the shared study (conftest.philips_study)


def philips_vendor_files(real: Path, subjects) -> list[dict]:
    """``dataset.vendor_files``: one PRESS ACC scan (+ water) per (participant label, source
    volunteer) pair, from the Philips TE 35 files in ``real`` (shared data PHILIPS_TE35)."""
    return [
        {
            "subject": sub,
            "session": "01",
            "acq": "press",
            "voi": "ACC",
            "format": "philips",
            "svs": str(real / f"sub-{src}/ses-01/mrs/sub-{src}_ses-01_press/sub-{src}_PRESS_35_act.sdat"),
            "mrsref": str(real / f"sub-{src}/ses-01/mrs/sub-{src}_ses-01_press-ref/sub-{src}_PRESS_35_ref.sdat"),
        }
        for sub, src in subjects
    ]


def write_philips_study(work: Path, real: Path, subjects=PHILIPS_SUBJECTS, *, basis: Path | None = None,
                        batches: int | None = None) -> dict:
    """A working directory for the default workflow on the Philips TE 35 scans of ``subjects``
    (one group, HC, no scores, no analysis families): config/config.yaml and the participants
    table (the workflow converts the vendor files into ``work/bids``). ``basis``: a supplied
    LCModel basis (Osprey's, ppm reference 4.68) instead of the simulated one; ``batches``:
    execution.batches (default: the config's). Returns the config."""
    config = base_config()
    config["dataset"] = {
        "name": "philips",
        "simulate": False,
        "bids_dir": "bids",
        "vendor_files": philips_vendor_files(real, subjects),
    }
    config["sequences"]["press"]["te_ms"] = 35
    if basis is not None:
        config["sequences"]["press"].update(basis=str(basis), basis_ppm_reference=4.68)
    config["analysis"] = {}
    if batches is not None:
        config["execution"]["batches"] = batches
    write_config(work, config)
    write_table(
        work / "bids" / "participants.tsv",
        ["participant_id", "group", "age", "sex"],
        [(f"sub-{sub}", "HC", "n/a", "n/a") for sub, _ in subjects],
    )
    return config
