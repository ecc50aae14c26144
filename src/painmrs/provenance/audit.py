"""Audit a results directory against its manifest, and rerun a study to compare outputs.

``audit_results`` re-hashes what is on disk and lists every difference from the manifest
(modified, missing and extra outputs; changed and missing inputs). ``rerun_study`` runs the
workflow again with the recorded config into a fresh directory, and ``compare_trees`` says,
file by file, whether the two runs wrote the same bytes (and where they differ if not).
"""

from __future__ import annotations

import copy
import gzip
import os
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from ..errors import InputError
from .hashing import list_files, sha256_file
from .manifest import MANIFEST_RELPATH, environment_info, read_manifest

FINDING_KINDS = ("modified_output", "missing_output", "extra_output", "changed_input", "missing_input")
_LABELS = {
    "modified_output": "MODIFIED output",
    "missing_output": "MISSING output",
    "extra_output": "EXTRA output",
    "changed_input": "CHANGED input",
    "missing_input": "MISSING input",
}


@dataclass(frozen=True)
class Finding:
    kind: str  # one of FINDING_KINDS
    path: str  # outputs: relative to the results dir; inputs: as recorded
    expected_sha256: str | None = None
    actual_sha256: str | None = None

    def describe(self) -> str:
        return f"{_LABELS[self.kind]:<16} {self.path}"


@dataclass
class AuditReport:
    results_dir: str
    manifest_path: str
    workdir: str
    n_outputs: int
    n_inputs: int
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # not findings: e.g. package versions differ

    @property
    def ok(self) -> bool:
        return not self.findings

    def counts(self) -> dict[str, int]:
        return {kind: sum(f.kind == kind for f in self.findings) for kind in FINDING_KINDS}

    def to_dict(self) -> dict:
        return {
            "results_dir": self.results_dir,
            "manifest": self.manifest_path,
            "workdir": self.workdir,
            "ok": self.ok,
            "outputs_checked": self.n_outputs,
            "inputs_checked": self.n_inputs,
            "counts": self.counts(),
            "findings": [asdict(f) for f in self.findings],
            "notes": list(self.notes),
        }

    def format_text(self) -> str:
        lines = [
            f"audit of {self.results_dir} against {self.manifest_path}",
            f"  {self.n_outputs} outputs and {self.n_inputs} inputs recorded",
        ]
        lines += [f"  {f.describe()}" for f in self.findings]
        lines += [f"  note: {n}" for n in self.notes]
        if self.ok:
            lines.append("OK: outputs and inputs match the manifest")
        else:
            summary = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in self.counts().items() if n)
            lines.append(f"FAILED: {len(self.findings)} finding(s): {summary}")
        return "\n".join(lines)


def _resolve_workdir(manifest: Mapping, workdir: str | os.PathLike | None) -> Path:
    """Inputs are recorded relative to the workflow's working directory: the one given, else
    the recorded one if it still exists, else the current directory."""
    if workdir is not None:
        return Path(workdir)
    recorded = manifest.get("run", {}).get("workdir")
    if recorded and Path(recorded).is_dir():
        return Path(recorded)
    return Path.cwd()


def audit_results(
    results_dir: str | os.PathLike,
    workdir: str | os.PathLike | None = None,
    *,
    check_inputs: bool = True,
) -> AuditReport:
    """Compare ``results_dir`` (and the recorded inputs) with its manifest."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise InputError(results_dir, None, "results directory does not exist")
    manifest = read_manifest(results_dir)
    study = manifest["study"]
    wd = _resolve_workdir(manifest, workdir)
    report = AuditReport(
        results_dir=results_dir.as_posix(),
        manifest_path=(results_dir / MANIFEST_RELPATH).as_posix(),
        workdir=wd.as_posix(),
        n_outputs=len(study["outputs"]),
        n_inputs=len(study["inputs"]),
    )

    recorded_out: dict[str, str] = study["outputs"]
    on_disk = set(list_files(results_dir, study["exclude"], skip_nested_results=True))
    for rel in sorted(set(recorded_out) | on_disk):
        if rel not in on_disk:
            report.findings.append(Finding("missing_output", rel, recorded_out[rel], None))
        elif rel not in recorded_out:
            report.findings.append(Finding("extra_output", rel, None, sha256_file(results_dir / rel)))
        else:
            actual = sha256_file(results_dir / rel)
            if actual != recorded_out[rel]:
                report.findings.append(Finding("modified_output", rel, recorded_out[rel], actual))

    if check_inputs:
        for rel, expected in study["inputs"].items():
            path = Path(rel) if Path(rel).is_absolute() else wd / rel
            if not path.is_file():
                report.findings.append(Finding("missing_input", rel, expected, None))
                continue
            actual = sha256_file(path)
            if actual != expected:
                report.findings.append(Finding("changed_input", rel, expected, actual))

    report.notes += environment_notes(manifest.get("environment", {}))
    return report


def environment_notes(recorded: Mapping, current: Mapping | None = None) -> list[str]:
    """Human-readable differences between the recorded and the current software."""
    if not recorded:
        return []
    current = current or environment_info()
    notes = []
    if recorded.get("python") != current.get("python"):
        notes.append(f"python {recorded.get('python')} recorded, {current.get('python')} now")
    rec_pk, cur_pk = recorded.get("packages", {}), current.get("packages", {})
    for name in sorted(set(rec_pk) | set(cur_pk)):
        if rec_pk.get(name) != cur_pk.get(name):
            notes.append(f"package {name}: {rec_pk.get(name)} recorded, {cur_pk.get(name)} now")
    git = recorded.get("git", {})
    if git.get("dirty"):
        notes.append(f"the run used a dirty git tree (commit {git.get('commit')})")
    return notes


# ---- comparing two result trees --------------------------------------------------------------

@dataclass
class TreeComparison:
    a: str
    b: str
    identical: list[str] = field(default_factory=list)
    differing: dict[str, str] = field(default_factory=dict)  # path -> where/how they differ
    only_in_a: list[str] = field(default_factory=list)
    only_in_b: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.differing or self.only_in_a or self.only_in_b)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["ok"] = self.ok
        return d

    def format_text(self) -> str:
        lines = [f"compared {self.a} with {self.b}: {len(self.identical)} identical files"]
        lines += [f"  DIFFERS    {p}: {why}" for p, why in self.differing.items()]
        lines += [f"  ONLY IN A  {p}" for p in self.only_in_a]
        lines += [f"  ONLY IN B  {p}" for p in self.only_in_b]
        lines += [f"  note: {n}" for n in self.notes]
        lines.append("OK: byte-identical outputs" if self.ok else
                     f"FAILED: {len(self.differing)} differ, {len(self.only_in_a)} only in A, "
                     f"{len(self.only_in_b)} only in B")
        return "\n".join(lines)


def _first_difference(a: bytes, b: bytes) -> int:
    n = min(len(a), len(b))
    for i in range(0, n, 4096):  # chunked compare: fast on long equal prefixes
        if a[i:i + 4096] != b[i:i + 4096]:
            return i + next(j for j, (x, y) in enumerate(zip(a[i:i + 4096], b[i:i + 4096])) if x != y)
    return n


def describe_difference(path_a: Path, path_b: Path) -> str:
    """Where two differing files first differ: byte offset, and for text the line; for gzip
    files whether the *decompressed* bytes are equal (then only the header, e.g. its mtime,
    differs, which points at a non-deterministic writer)."""
    a, b = path_a.read_bytes(), path_b.read_bytes()
    offset = _first_difference(a, b)
    parts = [f"{len(a)} vs {len(b)} bytes, first difference at byte {offset}"]
    if a[:2] == b[:2] == b"\x1f\x8b":
        try:
            da, db = gzip.decompress(a), gzip.decompress(b)
        except (OSError, EOFError, zlib.error):
            da = db = None
        if da is not None:
            if da == db:
                parts.append("decompressed contents are identical (gzip header differs)")
            else:
                parts.append(f"decompressed contents differ at byte {_first_difference(da, db)}")
        return "; ".join(parts)
    try:
        ta, tb = a.decode("utf-8"), b.decode("utf-8")
    except UnicodeDecodeError:
        return "; ".join(parts)
    la, lb = ta.splitlines(), tb.splitlines()
    for i, (x, y) in enumerate(zip(la, lb)):
        if x != y:
            parts.append(f"line {i + 1}: {x[:80]!r} vs {y[:80]!r}")
            break
    else:
        parts.append(f"{len(la)} vs {len(lb)} lines")
    return "; ".join(parts)


def compare_trees(
    a: str | os.PathLike, b: str | os.PathLike, exclude: Iterable[str] | None = None
) -> TreeComparison:
    """Compare every file below two result directories byte by byte. The manifests are not
    compared as bytes (their ``run`` sections differ by nature); their recorded output
    hashes are covered by comparing the files themselves."""
    a, b = Path(a), Path(b)
    if exclude is None:
        try:
            exclude = read_manifest(a)["study"]["exclude"]
        except InputError:
            from .manifest import DEFAULT_EXCLUDE

            exclude = DEFAULT_EXCLUDE
    exclude = list(exclude)
    if MANIFEST_RELPATH not in exclude:
        exclude.append(MANIFEST_RELPATH)
    files_a = set(list_files(a, exclude, skip_nested_results=True))
    files_b = set(list_files(b, exclude, skip_nested_results=True))
    cmp = TreeComparison(a=a.as_posix(), b=b.as_posix())
    cmp.only_in_a = sorted(files_a - files_b)
    cmp.only_in_b = sorted(files_b - files_a)
    for rel in sorted(files_a & files_b):
        if sha256_file(a / rel) == sha256_file(b / rel):
            cmp.identical.append(rel)
        else:
            cmp.differing[rel] = describe_difference(a / rel, b / rel)
    try:
        ma, mb = read_manifest(a), read_manifest(b)
    except InputError:
        return cmp
    for key in ("seeds", "inputs"):
        if ma["study"].get(key) != mb["study"].get(key):
            cmp.notes.append(f"manifests record different {key}")
    return cmp


# ---- rerunning a study -----------------------------------------------------------------------

def rebase_paths(config, old: str, new: str):
    """A copy of ``config`` where every string equal to ``old`` or starting with ``old/`` is
    moved below ``new`` (the results dir and any folder inside it, e.g. a simulated BIDS)."""
    old = old.rstrip("/")
    if isinstance(config, Mapping):
        return {k: rebase_paths(v, old, new) for k, v in config.items()}
    if isinstance(config, list):
        return [rebase_paths(v, old, new) for v in config]
    if isinstance(config, str) and (config == old or config.startswith(old + "/")):
        return new + config[len(old):]
    return copy.deepcopy(config)


@dataclass
class RerunResult:
    into: str
    returncode: int
    log_path: str
    comparison: TreeComparison | None

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.comparison is not None and self.comparison.ok


def rerun_study(
    results_dir: str | os.PathLike,
    into: str | os.PathLike | None = None,
    *,
    workdir: str | os.PathLike | None = None,
    snakefile: str | os.PathLike | None = None,
    cores: int = 1,
    results_key: str = "results_dir",
    snakemake_args: Iterable[str] = (),
    timeout_s: float | None = None,
) -> RerunResult:
    """Run the workflow again with the manifest's config into a fresh directory ``into``
    (default ``<results_dir>.rerun``) and compare both trees file by file.

    The recorded config's ``results_key`` value (and every config path below it) is moved to
    ``into``; all else (inputs, seeds, parameters) is as recorded. Snakemake runs in the
    recorded working directory so that relative input paths resolve as they did."""
    results_dir = Path(results_dir)
    manifest = read_manifest(results_dir)
    config = manifest["study"]["config"]
    wd = _resolve_workdir(manifest, workdir)
    into = Path(os.path.abspath(into or f"{os.path.abspath(results_dir)}.rerun"))
    if into.exists() and any(into.iterdir()):
        raise InputError(into, None, "rerun target directory exists and is not empty")
    old = config.get(results_key)
    if not isinstance(old, str):
        raise InputError(results_dir / MANIFEST_RELPATH, f"study.config.{results_key}",
                         "recorded config has no results directory setting to redirect")
    new_config = rebase_paths(config, old, into.as_posix())
    snakefile = Path(snakefile) if snakefile else wd / "Snakefile"
    if not snakefile.is_file():
        raise InputError(snakefile, None, "Snakefile for the rerun not found (use --snakefile)")

    tmp = Path(tempfile.mkdtemp(prefix="painmrs-rerun-"))
    cfg_path = tmp / "config.yaml"
    cfg_path.write_text(yaml.safe_dump(new_config, sort_keys=True), encoding="utf-8")
    log_path = tmp / "snakemake.log"
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", os.fspath(snakefile),
           "--directory", os.fspath(wd), "--configfile", os.fspath(cfg_path),
           "--cores", str(cores), *snakemake_args]
    with open(log_path, "wb") as log:
        try:
            proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, timeout=timeout_s)
            rc = proc.returncode
        except subprocess.TimeoutExpired:
            rc = -9
    comparison = compare_trees(results_dir, into, manifest["study"]["exclude"]) if rc == 0 else None
    return RerunResult(into=into.as_posix(), returncode=rc, log_path=log_path.as_posix(),
                       comparison=comparison)
