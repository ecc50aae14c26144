"""Provenance of a study run: the manifest every run writes, the audit that checks a results
directory against it, and helpers that make outputs byte-deterministic.

- ``manifest``: ``write_manifest`` / ``read_manifest`` (``results/provenance/manifest.json``)
- ``audit``: ``audit_results`` (results vs manifest), ``compare_trees`` and ``rerun_study``
- ``hashing``: streaming SHA-256 of files, directory trees and canonical JSON
- ``determinism``: figure, TSV and JSON writers whose bytes do not depend on the run
"""

from .audit import AuditReport, Finding, TreeComparison, audit_results, compare_trees, rerun_study
from .hashing import canonical_json, sha256_bytes, sha256_file, sha256_json
from .manifest import MANIFEST_RELPATH, build_manifest, read_manifest, write_manifest

__all__ = [
    "MANIFEST_RELPATH",
    "AuditReport",
    "Finding",
    "TreeComparison",
    "audit_results",
    "build_manifest",
    "canonical_json",
    "compare_trees",
    "read_manifest",
    "rerun_study",
    "sha256_bytes",
    "sha256_file",
    "sha256_json",
    "write_manifest",
]
