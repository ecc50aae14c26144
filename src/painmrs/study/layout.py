"""MRS-BIDS layout: find the scans of a study and pair each with its water reference.

File names follow the BIDS MRS rules (BIDS >= 1.10)::

    sub-<label>[_ses-<label>][_task-<label>][_acq-<label>][_nuc-<label>][_voi-<label>]
        [_rec-<label>][_run-<index>][_echo-<index>][_inv-<index>]_<suffix>.nii[.gz]

with suffix ``svs`` (single voxel), ``mrsref`` (water reference), ``unloc`` or ``mrsi``.
painmrs analyses ``svs`` scans; it needs ``acq`` (-> the config's sequences) and ``voi``
(-> the config's regions). A scan's water reference is the ``mrsref`` file with the same
entities; a scan without one is kept, with ``water_available = False`` (ratios still
work; water-scaled concentrations are then not computed).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from ..errors import InputError

ENTITY_ORDER = ("sub", "ses", "task", "acq", "nuc", "voi", "rec", "run", "echo", "inv")
INDEX_ENTITIES = {"run", "echo", "inv"}
MRS_SUFFIXES = ("svs", "mrsref", "unloc", "mrsi")
LABEL = re.compile(r"^[A-Za-z0-9]+$")
INDEX = re.compile(r"^[0-9]+$")
NIFTI_EXT = (".nii.gz", ".nii")

SCAN_COLUMNS = [
    "stem",
    "subject",
    "session",
    "acq",
    "region",
    "sequence",
    "svs",
    "mrsref",
    "water_available",
    "t1w",
    "probseg_gm",
    "probseg_wm",
    "probseg_csf",
]
# build_inventory adds te_ms and spectrometer_mhz (from the headers) after these.


@dataclasses.dataclass(frozen=True)
class BidsName:
    """A parsed MRS-BIDS file name."""

    entities: tuple[tuple[str, str], ...]
    suffix: str
    extension: str

    def get(self, key: str, default: str | None = None) -> str | None:
        return dict(self.entities).get(key, default)

    @property
    def stem(self) -> str:
        """The file name up to the suffix, e.g. ``sub-HC001_ses-baseline_acq-press_voi-ACC``."""
        return "_".join(f"{k}-{v}" for k, v in self.entities)


def parse_name(path: str | os.PathLike) -> BidsName:
    """Parse a BIDS MRS file name; raise ``InputError`` naming the file and the bad part."""
    path = Path(path)
    name = path.name
    ext = next((e for e in NIFTI_EXT if name.endswith(e)), None)
    if ext is None:
        raise InputError(path, "extension", "MRS data must be .nii.gz or .nii (NIfTI-MRS); convert vendor files first")
    parts = name[: -len(ext)].split("_")
    suffix = parts[-1]
    if suffix not in MRS_SUFFIXES:
        raise InputError(path, "suffix", f"{suffix!r} is not an MRS suffix ({', '.join(MRS_SUFFIXES)})")
    entities: list[tuple[str, str]] = []
    last = -1
    for part in parts[:-1]:
        key, sep, value = part.partition("-")
        if not sep:
            raise InputError(path, part, "not a key-value entity ('key-value' joined by '_')")
        if key not in ENTITY_ORDER:
            raise InputError(path, key, f"not an MRS entity ({', '.join(ENTITY_ORDER)})")
        order = ENTITY_ORDER.index(key)
        if order <= last:
            raise InputError(path, key, f"entity out of order or repeated; BIDS order is {', '.join(ENTITY_ORDER)}")
        last = order
        pattern = INDEX if key in INDEX_ENTITIES else LABEL
        if not pattern.match(value):
            kind = "a non-negative integer index" if key in INDEX_ENTITIES else "a label of letters and digits only"
            raise InputError(path, key, f"{value!r} is not {kind}")
        entities.append((key, value))
    if not entities or entities[0][0] != "sub":
        raise InputError(path, "sub", "file name must start with 'sub-<label>'")
    return BidsName(tuple(entities), suffix, ext)


def _check_folder(path: Path, bids: Path, name: BidsName) -> None:
    """The folder must match the entities: <bids>/sub-<s>/[ses-<e>/]mrs/."""
    rel = path.relative_to(bids).parts
    expect = [f"sub-{name.get('sub')}"]
    if name.get("ses") is not None:
        expect.append(f"ses-{name.get('ses')}")
    expect.append("mrs")
    if list(rel[:-1]) != expect:
        raise InputError(path, "folder", f"file is in {'/'.join(rel[:-1])}/ but its name says {'/'.join(expect)}/")


def _anat(bids: Path, subject: str, session: str) -> dict[str, str]:
    """T1w and tissue probability maps for a subject/session, relative paths ('' when absent)."""
    prefix = f"{subject}_{session}" if session else subject
    folder = Path(subject, session) if session else Path(subject)
    out = {}
    t1 = folder / "anat" / f"{prefix}_T1w.nii.gz"
    out["t1w"] = str(t1) if (bids / t1).is_file() else ""
    for tissue in ("GM", "WM", "CSF"):
        seg = Path("derivatives", "segmentation") / folder / "anat" / f"{prefix}_label-{tissue}_probseg.nii.gz"
        out[f"probseg_{tissue.lower()}"] = str(seg) if (bids / seg).is_file() else ""
    return out


def find_scans(bids_dir: str | os.PathLike, sequences: Mapping[str, Mapping] | None = None) -> pd.DataFrame:
    """The scan inventory of an MRS-BIDS folder: one row per ``svs`` scan (columns ``SCAN_COLUMNS``).

    ``sequences`` maps acq labels to their config entry; a scan whose acq is not declared is
    an error naming the file (unanalysable data must not be dropped silently).
    """
    bids = Path(bids_dir)
    if not bids.is_dir():
        raise InputError(bids, None, "BIDS folder does not exist")
    svs: dict[str, tuple[Path, BidsName]] = {}
    refs: dict[str, Path] = {}
    for path in sorted(bids.glob("sub-*/**/mrs/*")):
        if path.name.endswith((".json", ".tsv")) or path.name.startswith("."):
            continue  # sidecars, and hidden temporary files of interrupted atomic writes
        if not path.is_file():
            continue
        name = parse_name(path)
        _check_folder(path, bids, name)
        if name.suffix == "svs":
            if name.stem in svs:
                raise InputError(path, "stem", f"scan {name.stem} exists twice ({svs[name.stem][0].name} and {path.name})")
            svs[name.stem] = (path, name)
        elif name.suffix == "mrsref":
            refs[name.stem] = path
    rows = []
    for stem in sorted(svs):
        path, name = svs[stem]
        for key in ("acq", "voi"):
            if name.get(key) is None:
                raise InputError(path, key, f"painmrs needs the '{key}' entity to know the {'sequence' if key == 'acq' else 'region'}")
        acq = name.get("acq")
        sequence = ""
        if sequences is not None:
            if acq not in sequences:
                raise InputError(path, "acq", f"{acq!r} is not a declared sequence (config sequences: {', '.join(sequences)})")
            sequence = sequences[acq]["sequence"]
        subject = f"sub-{name.get('sub')}"
        session = f"ses-{name.get('ses')}" if name.get("ses") else ""
        ref = refs.get(stem)
        rows.append(
            {
                "stem": stem,
                "subject": subject,
                "session": session,
                "acq": acq,
                "region": name.get("voi"),
                "sequence": sequence,
                "svs": str(path.relative_to(bids)),
                "mrsref": "" if ref is None else str(ref.relative_to(bids)),
                "water_available": ref is not None,
                **_anat(bids, subject, session),
            }
        )
    orphan_refs = sorted(set(refs) - set(svs))
    if orphan_refs:
        raise InputError(refs[orphan_refs[0]], "mrsref", "water reference without a matching _svs scan (same entities)")
    return pd.DataFrame(rows, columns=SCAN_COLUMNS)


def batches(stems: Iterable[str], scans_per_job: int) -> list[list[str]]:
    """Split scans (sorted by stem) into consecutive batches of at most ``scans_per_job``."""
    if scans_per_job < 1:
        raise InputError(None, "execution.scans_per_job", "must be >= 1")
    ordered = sorted(stems)
    return [ordered[i : i + scans_per_job] for i in range(0, len(ordered), scans_per_job)]


def batch_ids(n_scans: int, scans_per_job: int) -> list[str]:
    """Batch wildcard values ``b0000``, ``b0001`` ... for ``n_scans`` scans."""
    n = -(-n_scans // scans_per_job) if n_scans else 0
    return [f"b{i:04d}" for i in range(n)]


def subject_batch(subject: str, n_batches: int) -> str:
    """The batch wildcard of a participant: a stable hash (SHA-256, not Python's salted
    ``hash()``) of its label into ``n_batches`` buckets.

    Batches are keyed by participant, not by position in the sorted scan list: adding or
    withdrawing one participant changes only that participant's batch. The bucket count is a
    fixed config value (``execution.batches``), never derived from the study's current size,
    since a count that grew with the study would re-cut every batch when one participant is
    added. All scans of a participant (every session) share one batch.
    """
    if n_batches < 1:
        raise InputError(None, "execution.batches", "must be >= 1")
    digest = hashlib.sha256(subject.encode("utf-8")).digest()
    return f"b{int.from_bytes(digest[:8], 'big') % n_batches:04d}"


def subject_batches(scans: pd.DataFrame, n_batches: int) -> dict[str, list[str]]:
    """Batch wildcard -> stems (sorted) of its scans; only non-empty batches."""
    out: dict[str, list[str]] = {}
    for stem, subject in sorted(zip(scans["stem"], scans["subject"])):
        out.setdefault(subject_batch(subject, n_batches), []).append(stem)
    return dict(sorted(out.items()))
