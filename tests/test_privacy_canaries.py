"""Privacy canaries: identifying header values never reach any output.

A tiny simulated study (config/demo/design.yaml, size tiny) gets unique canary values in every
identifying field of its NIfTI-MRS header extensions (standard-defined keys, DICOM keywords,
vendor keys nested in user-defined fields, a list of dicts, a ``private_`` key). Real vendor
files get the same canaries in their own headers: a Philips SDAT/SPAR pair (SPAR text
fields), a Siemens RDA (text header; the binary data after it is kept byte for byte) and a
Siemens DICOM (pydicom). The REAL workflow (the project's Snakefile, in a copy of the repo)
converts the vendor files (rule convert_vendor, spec2nii) and runs every stage, including the
HTML report; then ``snakemake --report report.zip`` and ``painmrs convert`` run too. Every
output byte (results/, converted BIDS files, .snakemake/ logs and metadata, report.zip
members, the console output; .nii.gz and zip members decompressed, PNG text chunks inflated,
base64 data URIs decoded) is searched for every canary, case-insensitively, dates in eight
formats. Participant labels (pseudonyms) must pass through unchanged.

The study run is shared with tests/test_fault_sigkill.py (session fixture ``canary_study``:
its uninterrupted run is the reference for the SIGKILL test).
"""

from __future__ import annotations

import base64
import dataclasses
import gzip
import io
import json
import re
import shutil
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import yaml

from conftest import SHARED_DATA, copy_workflow, snakemake_cmd, snakemake_env

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("canary_study")]

RUN_TIMEOUT_S = 900

# ---- canaries ------------------------------------------------------------------------------
# Unique strings (never produced by the software), an unusual weight, and two dates that are
# searched for in eight spellings each.
NAME = "CANARY_NAME_7f3a"
FAMILY, GIVEN = "CANARYFAMILY7F3A", "CANARYGIVEN2B9C"  # DICOM person name (family^given)
PATIENT_ID = "CANARYID9b2e"
SEX = "CANARY_SEX_5D1C"  # DICOM CS: upper case, <= 16 characters
WEIGHT = "123.456"
BIRTH = ("1913", "07", "29")
SCAN_DATE = ("1921", "10", "13")
INSTITUTION = "CANARY_INSTITUTION_c4e8"
ADDRESS = "CANARY_ADDRESS_e7b5"
OPERATOR = "CANARY_OPERATOR_a9d0"
PHYSICIAN = "CANARY_PHYSICIAN_d3f1"
STATION = "CANARY_STN_6a4c"  # DICOM SH: <= 16 characters
SERIAL = "CANARYSERIAL8e21"
EXAM = "CANARY_EXAM_31f6"
PATH_CANARY = "CANARY_PATH_0c5b"
PRIVATE = "CANARY_PRIVATE_f00d"
FREE_TEXT = "CANARY_FREETEXT_b16b"
# Values under keys no deny-list names (issue 14): older DICOM keyword spellings, attribute
# names written out as text, a tag number, operator / physician spellings, comments and
# descriptions, a vendor's novel field; only painmrs' allow-list keeps them out.
UNSEEN = "CANARY_UNSEEN_9e4d"


def _date(parts, style):
    y, m, d = parts
    return {"dicom": f"{y}{m}{d}", "iso": f"{y}-{m}-{d}"}[style]


def canary_patterns() -> dict[str, list[bytes]]:
    """Canary label -> compiled byte patterns, lower case (the search lower-cases the data).
    Numbers and dates must not touch other digits: '19211013' inside a float such as
    0.0192110134 in a basis file is not a leak."""
    patterns = {
        "name": [NAME, FAMILY, GIVEN],
        "patient_id": [PATIENT_ID],
        "sex": [SEX],
        "weight": [WEIGHT, WEIGHT.replace(".", ",")],
        "institution": [INSTITUTION],
        "address": [ADDRESS],
        "operator": [OPERATOR],
        "physician": [PHYSICIAN],
        "station": [STATION],
        "serial": [SERIAL],
        "examination": [EXAM],
        "original_path": [PATH_CANARY],
        "private_field": [PRIVATE],
        "free_text": [FREE_TEXT],
        "unseen_key": [UNSEEN],
    }
    for label, (y, m, d) in (("birth_date", BIRTH), ("scan_date", SCAN_DATE)):
        patterns[label] = [f"{y}{m}{d}", f"{y}-{m}-{d}", f"{y}.{m}.{d}", f"{y}/{m}/{d}",
                           f"{d}.{m}.{y}", f"{d}/{m}/{y}", f"{m}/{d}/{y}", f"{d}-{m}-{y}"]
    numeric = {"weight", "birth_date", "scan_date"}
    return {
        k: [re.compile((rb"(?<![0-9])" + re.escape(p.lower().encode()) + rb"(?![0-9])") if k in numeric
                       else re.escape(p.lower().encode())) for p in v]
        for k, v in patterns.items()
    }


def nifti_mrs_canaries() -> dict:
    """Header-extension fields with canaries: standard keys, DICOM keywords, nested vendor
    headers (twix / SPAR / GE / Bruker style), a list of dicts and a private key."""
    birth, scan = _date(BIRTH, "iso"), _date(SCAN_DATE, "dicom")
    return {
        "PatientName": NAME,
        "PatientID": PATIENT_ID,
        "PatientDoB": birth,
        "PatientSex": SEX,
        "PatientWeight": float(WEIGHT),
        "InstitutionName": INSTITUTION,
        "InstitutionAddress": ADDRESS,
        "OperatorsName": OPERATOR,
        "ReferringPhysicianName": PHYSICIAN,
        "DeviceSerialNumber": SERIAL,
        "OriginalFile": [f"/data/{PATH_CANARY}/meas.dat"],
        "ConversionTime": f"{_date(SCAN_DATE, 'iso')}T08:09:10.111",
        "AcquisitionStartTime": f"{_date(SCAN_DATE, 'iso')}T08:00:00",
        "PATIENT_BIRTH_DATE": _date(BIRTH, "dicom"),  # case / separator variant of a known key
        "SiemensTwixHeader": {
            "Meas": {"tPatientName": NAME, "PatientBirthDay": _date(BIRTH, "dicom"),
                     "flUsedPatientWeight": float(WEIGHT), "lPatientSex": SEX, "tPatientID": PATIENT_ID},
            "Dicom": {"InstitutionName": INSTITUTION, "InstitutionAddress": ADDRESS,
                      "DeviceSerialNumber": SERIAL, "StationName": STATION},
        },
        "PhilipsSPAR": {"patient_name": NAME, "patient_birth_date": birth, "examination_name": EXAM,
                        "scan_date": scan},
        "GEHeader": {"rhe_patname": NAME, "rhe_patid": PATIENT_ID, "rhe_hospname": INSTITUTION,
                     "rhe_op": OPERATOR, "rhe_refphy": PHYSICIAN},
        "BrukerSubject": {"SUBJECT_name_string": NAME, "SUBJECT_dbirth": birth, "SUBJECT_sex": SEX,
                          "SUBJECT_weight": float(WEIGHT), "SUBJECT_id": PATIENT_ID},
        "VendorSeries": [{"StudyDate": scan, "PatientID": PATIENT_ID, "OperatorsName": OPERATOR}],
        "private_site_note": {"Value": PRIVATE, "Description": "site-private field"},
        "AdditionalInformation": {"Value": f"{FREE_TEXT} (patient note)", "Description": "jMRUI free text"},
        "PulseSequenceFile": {"Value": "%SiemensSeq%\\svs_se", "Description": "Sequence binary path."},
        **UNSEEN_KEYS,
    }


#: Keys the deny-list (painmrs.io.deidentify.IDENTIFYING_KEYS) has never seen.
UNSEEN_KEYS = {
    "PatientsName": f"{UNSEEN}_1",  # ACR-NEMA / older keyword spelling of PatientName
    "Patient's Birth Date": f"{UNSEEN}_2",  # DICOM attribute name written out as text
    "(0010,0010)": f"{UNSEEN}_3",  # a DICOM tag as the key
    "OperatorName": f"{UNSEEN}_4",
    "ReferringPhysician": f"{UNSEEN}_5",
    "PerformingPhysiciansName": f"{UNSEEN}_6",
    "ImageComments": f"{UNSEEN}_7 (seen by Dr X)",
    "SeriesDescription": f"PRESS {UNSEEN}_8",
    "StudyComments": f"{UNSEEN}_9",
    "RequestingService": f"{UNSEEN}_10",
    "ScannerSiteNotes": {"Note": f"{UNSEEN}_11", "Shim": "auto"},
    "dim_5_header": {"OperatorComment": f"{UNSEEN}_12"},
    "ProcessingApplied": [{"Program": "scanner", "Method": "Signal averaging", "Operator": f"{UNSEEN}_13"}],
}


# ---- planting canaries -----------------------------------------------------------------------
def plant_nifti_mrs(path: Path) -> None:
    """Add the canary fields to a NIfTI-MRS file's header extension (raw nibabel: painmrs'
    own writer would strip them)."""
    img = nib.load(str(path))
    data = np.asanyarray(img.dataobj)  # read before the file is overwritten
    ext = img.header.extensions[0]
    content = json.loads(ext.get_content())
    content.update(nifti_mrs_canaries())
    out = nib.Nifti2Image(data, img.affine, img.header)
    out.header.extensions.clear()
    out.header.extensions.append(nib.nifti1.Nifti1Extension(ext.get_code(), json.dumps(content).encode()))
    nib.save(out, str(path))


def plant_spar(src: Path, dst: Path) -> None:
    """Copy a Philips SPAR with canaries in its identifying fields (and fields some scanner
    versions add: patient id, sex, weight, institution, operator)."""
    values = {
        "examination_name": EXAM,
        "scan_date": f"{SCAN_DATE[0]}.{SCAN_DATE[1]}.{SCAN_DATE[2]} 08:09:10",
        "patient_name": NAME,
        "patient_birth_date": f"{BIRTH[0]}.{BIRTH[1]}.{BIRTH[2]}",
    }
    extra = {"patient_id": PATIENT_ID, "patient_sex": SEX, "patient_weight": WEIGHT,
             "institution_name": INSTITUTION, "operator_name": OPERATOR}
    lines = []
    for line in src.read_text(encoding="latin-1").splitlines():
        key = line.split(":", 1)[0].strip()
        if key in values:
            line = f"{key} : {values[key]}"
        lines.append(line)
        if key == "patient_birth_date":
            lines += [f"{k} : {v}" for k, v in extra.items()]
    dst.write_text("\n".join(lines) + "\n", encoding="latin-1")


def plant_rda(src: Path, dst: Path) -> None:
    """Siemens RDA: replace header values (and add OperatorsName / InstitutionAddress); the
    binary FID after '>>> End of header <<<\\r\\n' is copied unchanged, whatever the new
    header length (readers find the data by the end marker)."""
    raw = src.read_bytes()
    marker = b">>> End of header <<<\r\n"
    cut = raw.index(marker) + len(marker)
    header, data = raw[:cut].decode("latin-1"), raw[cut:]
    values = {
        "PatientName": NAME, "PatientID": PATIENT_ID, "PatientSex": SEX,
        "PatientBirthDate": _date(BIRTH, "dicom"), "PatientWeight": WEIGHT,
        "InstitutionName": INSTITUTION, "StationName": STATION, "DeviceSerialNumber": SERIAL,
        "StudyDate": _date(SCAN_DATE, "dicom"), "SeriesDate": _date(SCAN_DATE, "dicom"),
        "InstanceDate": _date(SCAN_DATE, "dicom"), "StudyDescription": EXAM,
    }
    out = []
    for line in header.split("\r\n"):
        key = line.split(":", 1)[0]
        if key in values:
            line = f"{key}: {values[key]}"
        out.append(line)
        if key == "InstitutionName":
            out += [f"OperatorsName: {OPERATOR}", f"InstitutionAddress: {ADDRESS}"]
    dst.write_bytes("\r\n".join(out).encode("latin-1") + data)


def plant_dicom(src: Path, dst: Path) -> None:
    import pydicom

    ds = pydicom.dcmread(str(src))
    ds.PatientName = f"{FAMILY}^{GIVEN}"
    ds.PatientID = PATIENT_ID
    ds.PatientBirthDate = _date(BIRTH, "dicom")
    ds.PatientSex = SEX
    ds.PatientWeight = WEIGHT
    ds.InstitutionName = INSTITUTION
    ds.InstitutionAddress = ADDRESS
    ds.OperatorsName = OPERATOR
    ds.ReferringPhysicianName = PHYSICIAN
    ds.PerformingPhysicianName = PHYSICIAN
    ds.StationName = STATION
    ds.DeviceSerialNumber = SERIAL
    ds.AccessionNumber = PATIENT_ID
    ds.StudyDescription = EXAM
    for key in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"):
        setattr(ds, key, _date(SCAN_DATE, "dicom"))
    ds.save_as(str(dst))


# ---- the shared study run ----------------------------------------------------------------------
PHILIPS = "real/philips_press_3T/press_te35/sub-01/ses-01/mrs/sub-01_ses-01_press{ref}/sub-01_PRESS_35_{kind}"
CORRUPT_STEM = "sub-HC002_ses-baseline_acq-press_voi-ACC"
VENDOR_SUBJECTS = {"PHI001": "philips", "RDA001": "rda", "DCM001": "dicom"}


@dataclasses.dataclass
class StudyRun:
    inputs: Path  # bids/, truth/, vendor/, config/config.yaml (copied into every work dir)
    work: Path  # the uninterrupted run's work dir (repo copy + inputs + results)
    console: str  # snakemake + painmrs convert stdout/stderr
    converted: list[Path]  # converted BIDS files and `painmrs convert` outputs
    seconds: dict


def snakemake(work: Path, *args: str, timeout: float = RUN_TIMEOUT_S, popen_log: Path | None = None):
    cmd, env = snakemake_cmd(work, *args), snakemake_env()
    if popen_log:  # in the background, in its own process group (the SIGKILL test kills all of it)
        with open(popen_log, "wb") as log:
            return subprocess.Popen(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=timeout, env=env)


def make_workdir(work: Path, inputs: Path) -> Path:
    """A copy of the repository's workflow with the study's inputs and config."""
    copy_workflow(work)
    for name in ("bids", "truth", "vendor"):
        if (inputs / name).is_dir():
            shutil.copytree(inputs / name, work / name)
    shutil.copy(inputs / "config.yaml", work / "config" / "config.yaml")
    return work


def _study_config(vendor: list[dict]) -> dict:
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text(encoding="utf-8"))
    config["dataset"] = {"name": "canary", "simulate": False, "bids_dir": "bids", "truth_dir": "truth",
                         "vendor_files": vendor}
    execution = config["execution"]
    # scans_per_job 8: two batch jobs per stage, so a kill can land between and inside them
    execution["scans_per_job"] = 8
    if "on_bad_scan" in execution or "on_scan_error" not in execution:
        execution.pop("on_scan_error", None)
        execution["on_bad_scan"] = "exclude"
    else:  # the old key, while the rename to on_bad_scan lands
        execution["on_scan_error"] = "skip"
    if vendor:
        config["sequences"]["philips"] = {"sequence": "PRESS", "te_ms": 35, "tr_ms": 2000}
        config["sequences"]["rda"] = {"sequence": "PRESS", "te_ms": 30, "tr_ms": 2000}
        config["sequences"]["dcm"] = {"sequence": "PRESS", "te_ms": 30, "tr_ms": 2000}
    return config


def _vendor_inputs(vendor_dir: Path) -> list[dict]:
    """Canary copies of the real vendor files; their config entries (paths relative to the
    work dir, so that every run records the same paths)."""
    vendor_dir.mkdir(parents=True)
    entries = []
    for kind in ("act", "ref"):
        base = SHARED_DATA / PHILIPS.format(ref="-ref" if kind == "ref" else "", kind=kind)
        shutil.copy(base.with_suffix(".sdat"), vendor_dir / f"philips_{kind}.sdat")
        plant_spar(base.with_suffix(".spar"), vendor_dir / f"philips_{kind}.spar")
    entries.append({"subject": "PHI001", "session": "baseline", "acq": "philips", "voi": "ACC", "format": "philips",
                    "svs": "vendor/philips_act.sdat", "mrsref": "vendor/philips_ref.sdat"})
    plant_rda(SHARED_DATA / "real/siemens_press_3T/SVS_30.rda", vendor_dir / "siemens.rda")
    entries.append({"subject": "RDA001", "session": "baseline", "acq": "rda", "voi": "ACC", "format": "rda",
                    "svs": "vendor/siemens.rda"})
    plant_dicom(SHARED_DATA / "real/siemens_press_3T/SVS_30.IMA", vendor_dir / "siemens.IMA")
    entries.append({"subject": "DCM001", "session": "baseline", "acq": "dcm", "voi": "ACC", "format": "dicom",
                    "svs": "vendor/siemens.IMA"})
    return entries


_BUILT: dict[str, StudyRun] = {}


@pytest.fixture(scope="session")
def canary_study(tmp_path_factory) -> StudyRun:
    """Built once per test session even though two modules use it (pytest registers an
    imported fixture once per module; the module-level cache makes them share one run)."""
    if "run" not in _BUILT:
        _BUILT["run"] = _build_canary_study(tmp_path_factory)
    return _BUILT["run"]


def _build_canary_study(tmp_path_factory) -> StudyRun:
    from painmrs.cli import main as painmrs_main

    seconds = {}
    base = tmp_path_factory.mktemp("canary_study")
    inputs = base / "inputs"
    t0 = time.perf_counter()
    assert painmrs_main(["simulate", "--design", str(ROOT / "config/demo/design.yaml"), "--size", "tiny",
                         "--bids", str(inputs / "bids"), "--truth", str(inputs / "truth"), "--jobs", "2"]) == 0
    for scan in sorted((inputs / "bids").rglob("*.nii.gz")):
        if "/mrs/" in scan.as_posix():
            plant_nifti_mrs(scan)
    # A corrupted scan (fault test): its processing raises, the study must go on.
    bad = inputs / "bids" / "sub-HC002" / "ses-baseline" / "mrs" / f"{CORRUPT_STEM}_svs.nii.gz"
    bad.write_bytes(bad.read_bytes()[:3000])
    vendor = _vendor_inputs(inputs / "vendor") if SHARED_DATA.is_dir() else []
    if vendor:
        participants = inputs / "bids" / "participants.tsv"
        header = participants.read_text().splitlines()[0].split("\t")
        rows = []
        for i, sub in enumerate(VENDOR_SUBJECTS):
            row = {"participant_id": f"sub-{sub}", "group": "HC", "age": str(40 + i), "sex": "F"}
            rows.append("\t".join(row.get(col, "n/a") for col in header))
        participants.write_text(participants.read_text() + "\n".join(rows) + "\n")
    (inputs / "config.yaml").write_text(yaml.safe_dump(_study_config(vendor), sort_keys=False))
    seconds["prepare"] = time.perf_counter() - t0

    work = make_workdir(base / "run_uninterrupted", inputs)
    t0 = time.perf_counter()
    run = snakemake(work, "--cores", "2")
    seconds["workflow"] = time.perf_counter() - t0
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-6000:]
    t0 = time.perf_counter()
    report = snakemake(work, "--report", "report.zip")
    seconds["snakemake_report"] = time.perf_counter() - t0
    assert report.returncode == 0, report.stderr[-4000:]
    console = [run.stdout, run.stderr, report.stdout, report.stderr]
    converted = [work / "bids" / f"sub-{s}" / "ses-baseline" / "mrs" / f"sub-{s}_ses-baseline_acq-{a}_voi-ACC_svs.nii.gz"
                 for s, a in (("PHI001", "philips"), ("RDA001", "rda"), ("DCM001", "dcm"))] if vendor else []
    t0 = time.perf_counter()
    for entry in vendor[1:2]:  # the command-line path too (the RDA; the rule converted all three)
        out = work / "convert_cli" / f"{entry['subject']}_svs.nii.gz"
        proc = subprocess.run([str(BIN / "painmrs"), "convert", "--format", entry["format"], entry["svs"], str(out)],
                              cwd=work, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        console += [proc.stdout, proc.stderr]
        converted.append(out)
    seconds["painmrs_convert"] = time.perf_counter() - t0
    return StudyRun(inputs=inputs, work=work, console="\n".join(console), converted=converted, seconds=seconds)


# ---- searching outputs -------------------------------------------------------------------------
def _png_texts(data: bytes):
    """Text chunks of a PNG (tEXt as stored, zTXt/iTXt inflated)."""
    pos = 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"zTXt":
            key, _, rest = body.partition(b"\0")
            yield key + b" " + zlib.decompress(rest[1:])
        elif kind == b"iTXt":
            key, _, rest = body.partition(b"\0")
            compressed, text = rest[0], rest[2:].split(b"\0", 2)[-1]
            yield key + b" " + (zlib.decompress(text) if compressed else text)
        pos += 12 + length


def expand(name: str, data: bytes, depth: int = 0):
    """(name, bytes) for a file and everything packed inside it."""
    yield name, data
    if depth > 4:
        return
    if data[:2] == b"\x1f\x8b":
        yield from expand(name + "!gunzip", gzip.decompress(data), depth + 1)
    elif data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for member in zf.namelist():
                yield from expand(f"{name}!{member}", zf.read(member), depth + 1)
    elif data[:8] == b"\x89PNG\r\n\x1a\n":
        for i, text in enumerate(_png_texts(data)):
            yield f"{name}!text{i}", text
    for i, match in enumerate(re.finditer(rb"base64,([A-Za-z0-9+/=\s]{16,})", data)):
        try:
            decoded = base64.b64decode(re.sub(rb"\s", b"", match.group(1)))
        except ValueError:
            continue
        yield from expand(f"{name}!data-uri{i}", decoded, depth + 1)


def find_canaries(files, extra_texts=()) -> list[tuple[str, str, str]]:
    """(where, canary label, pattern) for every canary occurrence."""
    patterns = canary_patterns()
    hits = []
    blobs = [(str(p), p.read_bytes()) for p in files] + [(f"console[{i}]", t.encode()) for i, t in enumerate(extra_texts)]
    for name, data in blobs:
        for where, blob in expand(name, data):
            low = blob.lower()
            for label, pats in patterns.items():
                for pat in pats:
                    if pat.search(low):
                        hits.append((where, label, pat.pattern.decode(errors="replace")))
    return hits


def output_files(run: StudyRun) -> list[Path]:
    """Everything the run wrote: results/, .snakemake/ (logs, metadata), the Snakemake report,
    converted files. Inputs (the planted study, vendor files, the repo copy) are not outputs."""
    work = run.work
    files = [p for p in (work / "results").rglob("*") if p.is_file()]
    files += [p for p in (work / ".snakemake").rglob("*") if p.is_file() and "conda" not in p.parts]
    files += [work / "report.zip"] + list(run.converted)
    return sorted(set(files))


# ---- tests -------------------------------------------------------------------------------------
def test_canaries_are_really_planted(canary_study):
    """The search below is meaningful: every canary is present in the inputs it was planted in
    (vendor files: in the raw spec2nii output of at least one converter)."""
    inputs = canary_study.inputs
    planted = sorted(p for p in (inputs / "bids").rglob("*.nii.gz") if "/mrs/" in p.as_posix() and "HC002_ses-baseline_acq-press" not in p.name)
    found = {label for _, label, _ in find_canaries(planted[:1])}
    expected = set(canary_patterns()) - {"weight"}  # the weight is a JSON number 123.456
    assert expected <= found | {"weight"}, expected - found
    assert "weight" in found
    if not SHARED_DATA.is_dir():
        return
    vendor_raw = find_canaries(sorted((inputs / "vendor").glob("*")))
    vendor_labels = {label for _, label, _ in vendor_raw}
    assert {"name", "patient_id", "sex", "weight", "birth_date", "scan_date", "institution", "operator",
            "examination"} <= vendor_labels, vendor_labels


def test_raw_spec2nii_output_carries_the_canaries(canary_study, tmp_path):
    """Without painmrs' de-identification the vendor canaries would reach NIfTI-MRS (spec2nii
    copies PatientName/ID/DoB/Sex/Weight/InstitutionName into the header extension)."""
    if not SHARED_DATA.is_dir():
        pytest.skip("vendor files need ../shared/data")
    from painmrs.convert import spec2nii_command

    leaked = set()
    vendor = canary_study.inputs / "vendor"
    for fmt, src in (("philips", vendor / "philips_act.sdat"), ("rda", vendor / "siemens.rda")):
        subprocess.run(spec2nii_command(fmt, src, tmp_path / fmt, "raw"), check=True, capture_output=True)
        leaked |= {label for _, label, _ in find_canaries([tmp_path / fmt / "raw.nii.gz"])}
    dcm_dir = tmp_path / "dcm_in"
    dcm_dir.mkdir()
    shutil.copy(vendor / "siemens.IMA", dcm_dir / "siemens.IMA")
    subprocess.run(spec2nii_command("dicom", dcm_dir / "siemens.IMA", tmp_path / "dcm", "raw"), check=True, capture_output=True)
    leaked |= {label for _, label, _ in find_canaries(sorted((tmp_path / "dcm").glob("*.nii.gz")))}
    assert {"name", "patient_id", "sex", "weight", "birth_date", "institution"} <= leaked, leaked


def test_no_canary_in_any_output(canary_study):
    files = output_files(canary_study)
    assert len(files) > 100
    names = {p.name for p in files}
    assert "index.html" in names and "report.zip" in names and "metabolites.tsv" in names
    assert any(p.suffix == ".png" for p in files)
    hits = find_canaries(files, [canary_study.console])
    assert not hits, "\n".join(f"{where}: {label} ({pat})" for where, label, pat in hits[:40])


def test_converted_vendor_files_are_deidentified_and_still_valid(canary_study):
    if not canary_study.converted:
        pytest.skip("vendor files need ../shared/data")
    from painmrs.io import nifti_mrs
    from painmrs.io.deidentify import identifying_paths

    for path in canary_study.converted:
        ext = json.loads(nib.load(str(path)).header.extensions[0].get_content())
        assert identifying_paths(ext) == [], path
        mrs = nifti_mrs.read(path)
        assert mrs.spectrometer_mhz > 120 and mrs.header["EchoTime"] in (0.03, 0.035)
        assert ext["Manufacturer"] and "PatientPosition" in ext  # non-identifying fields are kept
    # Same samples as the unmodified vendor file (the RDA header grew; its data did not move).
    from painmrs.convert import convert

    reference = convert(SHARED_DATA / "real/siemens_press_3T/SVS_30.rda", "rda", canary_study.work / "ref_rda.nii.gz")
    converted = nifti_mrs.read(canary_study.work / "convert_cli" / "RDA001_svs.nii.gz")
    assert (converted.fid == reference.fid).all()


def test_participant_labels_pass_through(canary_study):
    """Pseudonymous participant labels are the study's keys: they reach the tables unchanged."""
    import pandas as pd

    table = pd.read_csv(canary_study.work / "results" / "metabolites.tsv", sep="\t", dtype=str)
    subjects = set(table["subject"])
    expected = {"sub-HC001", "sub-CLBP001"} | ({f"sub-{s}" for s in VENDOR_SUBJECTS} if canary_study.converted else set())
    assert expected <= subjects, expected - subjects
    html = (canary_study.work / "results" / "report" / "index.html").read_text(encoding="utf-8")
    assert "sub-HC001" in html


def test_allow_list_drops_keys_never_seen(caplog):
    """What painmrs writes is an allow-list: keys no deny-list names are dropped (their names,
    never their values, are logged once); standard acquisition keys, dimension tags and the
    processing history are kept."""
    import logging

    from painmrs.io.deidentify import allowed_header, identifying_paths, is_identifying, log_dropped

    assert not any(is_identifying(k) for k in UNSEEN_KEYS if k not in ("dim_5_header", "ProcessingApplied"))
    header = nifti_mrs_canaries() | {"EchoTime": 0.03, "RepetitionTime": 2.0, "PatientPosition": "HFS",
                                      "SequenceName": "PRESS", "dim_5": "DIM_COIL", "PulseSequenceType": "PRESS",
                                      "SpectrometerFrequency": [123.2], "ResonantNucleus": ["1H"]}
    header["ProcessingApplied"] = UNSEEN_KEYS["ProcessingApplied"] + [
        {"Program": "painmrs", "Version": "1", "Method": "RF coil combination", "Details": "{}"}]
    dropped: set[str] = set()
    clean = allowed_header(header, dropped)
    assert clean == {
        "EchoTime": 0.03, "RepetitionTime": 2.0, "PatientPosition": "HFS", "SequenceName": "PRESS", "dim_5": "DIM_COIL",
        "PulseSequenceType": "PRESS", "SpectrometerFrequency": [123.2], "ResonantNucleus": ["1H"],
        "dim_5_header": {},
        "ProcessingApplied": [{"Program": "scanner", "Method": "Signal averaging"},
                              {"Program": "painmrs", "Version": "1", "Method": "RF coil combination", "Details": "{}"}],
    }
    assert not find_canaries([], [json.dumps(clean)]) and identifying_paths(clean) == []
    assert {"PatientsName", "Patient's Birth Date", "(0010,0010)", "ImageComments", "ScannerSiteNotes",
            "dim_5_header.OperatorComment", "ProcessingApplied[].Operator", "PatientName", "SiemensTwixHeader"} <= dropped
    with caplog.at_level(logging.INFO, logger="painmrs"):
        log_dropped(dropped)
        log_dropped(dropped)  # once per process
    assert caplog.text.count("header keys not on painmrs' allow-list, dropped from the outputs: ") == 1
    assert "PatientsName" in caplog.text and UNSEEN not in caplog.text and NAME not in caplog.text


def test_deidentify_list_covers_standard_and_vendor_keys():
    from nifti_mrs.definitions import standard_defined

    from painmrs.io.deidentify import is_identifying, strip_identifiers

    marked = {k for k, v in standard_defined.items() if v[3]} - {"ManufacturersModelName"}
    assert all(is_identifying(k) for k in marked | {"PatientSex", "PatientWeight", "InstitutionName"})
    for kept in ("PatientPosition", "EchoTime", "Manufacturer", "ManufacturersModelName", "ProcessingApplied"):
        assert not is_identifying(kept), kept
    known = {k: v for k, v in nifti_mrs_canaries().items() if k not in UNSEEN_KEYS}
    header = known | {"EchoTime": 0.03, "PatientPosition": "HFS"}
    clean = strip_identifiers(header)
    assert clean["EchoTime"] == 0.03 and clean["PatientPosition"] == "HFS"
    assert clean["VendorSeries"] == [{}] and clean["SiemensTwixHeader"] == {"Meas": {}, "Dicom": {}}
    assert not find_canaries([], [json.dumps(clean)])
    # a deny-list passes what it does not know: why every write also applies the allow-list
    assert {label for _, label, _ in find_canaries([], [json.dumps(strip_identifiers(UNSEEN_KEYS))])} == {"unseen_key"}
