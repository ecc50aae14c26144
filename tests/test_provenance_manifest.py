"""The provenance manifest: hashes checked against hashlib on known bytes, sections and
their determinism, seeds, exclusions and bad input."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from painmrs.errors import InputError
from painmrs.provenance import (
    MANIFEST_RELPATH,
    build_manifest,
    canonical_json,
    read_manifest,
    sha256_file,
    sha256_json,
    write_manifest,
)
from painmrs.provenance.hashing import hash_tree, list_files, matches_any
from painmrs.provenance.manifest import find_seeds, package_versions

CONFIG = {
    "results_dir": "results",
    "dataset": {"seed": 20240601, "bids_dir": "bids", "simulate": False},
    "fitting": {"mc_seed": 7, "baseline_knots": 15},
    "regions": {"ACC": {"description": "anterior cingulate"}},
}


@pytest.fixture
def study(tmp_path):
    """A workdir with an input folder, an input file and a results folder with outputs,
    logs and a hidden temp file."""
    (tmp_path / "bids" / "sub-HC001").mkdir(parents=True)
    (tmp_path / "bids" / "participants.tsv").write_text("participant_id\tgroup\nsub-HC001\tHC\n")
    (tmp_path / "bids" / "sub-HC001" / "scan_svs.nii.gz").write_bytes(bytes(range(256)) * 10)
    (tmp_path / "bids" / ".DS_Store").write_bytes(b"junk")
    (tmp_path / "basis.json").write_text('{"names": ["NAA"]}')
    res = tmp_path / "results"
    (res / "stats").mkdir(parents=True)
    (res / "logs").mkdir()
    (res / "metabolites.tsv").write_text("subject\tvalue\nHC001\t1.5\n")
    (res / "stats" / "group.tsv").write_text("metabolite\tp\nNAA\t0.01\n")
    (res / "logs" / "fit.log").write_text("SLURM_JOB_ID=17 took 3.2 s\n")
    (res / ".metabolites.tsv.abc.tmp").write_text("partial")
    return tmp_path


def test_sha256_matches_hashlib_on_known_bytes(tmp_path):
    data = b"painmrs" * 300_000  # > 1 MiB: crosses the chunk boundary
    p = tmp_path / "f.bin"
    p.write_bytes(data)
    assert sha256_file(p) == hashlib.sha256(data).hexdigest()
    # the empty file's digest is a published constant
    (tmp_path / "empty").write_bytes(b"")
    assert sha256_file(tmp_path / "empty") == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )


def test_canonical_json_ignores_key_order_and_rejects_nan():
    a = {"b": 1, "a": {"y": [1, 2], "x": "é"}}
    b = {"a": {"x": "é", "y": [1, 2]}, "b": 1}
    assert canonical_json(a) == canonical_json(b) == '{"a":{"x":"é","y":[1,2]},"b":1}'
    assert sha256_json(a) == hashlib.sha256(canonical_json(b).encode()).hexdigest()
    assert sha256_json(a) != sha256_json({**a, "b": 2})
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_exclude_patterns():
    pats = ["logs/*", "*.log", ".*", "provenance/manifest.json"]
    assert matches_any("logs/fit/a.txt", pats)
    assert matches_any("deriv/sub-1/x.log", pats)
    assert matches_any("deriv/.x.tsv.123.tmp", pats)
    assert matches_any("provenance/manifest.json", pats)
    assert not matches_any("deriv/logs.tsv", pats)
    assert not matches_any("provenance/other.json", pats)


def test_list_files_sorted_and_excluding(study):
    files = list_files(study / "results", ["logs/*", ".*"])
    assert files == ["metabolites.tsv", "stats/group.tsv"]
    assert hash_tree(study / "results", ["logs/*", ".*"])["stats/group.tsv"] == hashlib.sha256(
        b"metabolite\tp\nNAA\t0.01\n"
    ).hexdigest()


def test_find_seeds_walks_nested_config():
    assert find_seeds(CONFIG) == {"dataset.seed": 20240601, "fitting.mc_seed": 7}


def test_manifest_records_config_inputs_outputs_versions(study, monkeypatch):
    monkeypatch.chdir(study)
    path = write_manifest(
        "results", CONFIG, inputs=["bids", "basis.json"], outputs=["results/metabolites.tsv"],
        seeds={"bootstrap": 99}, repo_dir=study,
    )
    assert path.resolve() == study / "results" / MANIFEST_RELPATH
    m = json.loads(path.read_text())
    s = m["study"]
    assert s["config"] == CONFIG
    assert s["config_sha256"] == hashlib.sha256(canonical_json(CONFIG).encode()).hexdigest()
    assert s["seeds"] == {"bootstrap": 99, "dataset.seed": 20240601, "fitting.mc_seed": 7}
    # inputs: a directory is expanded (hidden files skipped), paths relative to the workdir
    assert s["inputs"] == {
        "basis.json": hashlib.sha256(b'{"names": ["NAA"]}').hexdigest(),
        "bids/participants.tsv": sha256_file(study / "bids" / "participants.tsv"),
        "bids/sub-HC001/scan_svs.nii.gz": hashlib.sha256(bytes(range(256)) * 10).hexdigest(),
    }
    # outputs: every results file except logs, hidden temp files and the manifest itself
    assert sorted(s["outputs"]) == ["metabolites.tsv", "stats/group.tsv"]
    assert s["declared_outputs"] == ["results/metabolites.tsv"]
    env = m["environment"]
    assert env["packages"]["numpy"] == np_version()
    assert env["packages"]["snakemake"].startswith("9.")
    assert env["git"] == {"commit": None, "dirty": None}  # tmp dir is no git work tree
    assert m["run"]["results_dir"].endswith("/results")
    assert read_manifest(study / "results") == m


def np_version():
    import numpy

    return numpy.__version__


def test_manifest_is_deterministic_outside_the_run_section(study, monkeypatch):
    monkeypatch.chdir(study)
    a = build_manifest("results", CONFIG, ["bids"], [], repo_dir=study)
    write_manifest("results", CONFIG, ["bids"], [], repo_dir=study)  # the manifest is not an output
    b = build_manifest("results", dict(reversed(list(CONFIG.items()))), ["bids"], [], repo_dir=study)
    a.pop("run"), b.pop("run")
    assert canonical_json(a) == canonical_json(b)


def test_manifest_git_state_of_a_repo(tmp_path):
    import subprocess

    repo = tmp_path / "repo"
    repo.mkdir()
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@x"}
    subprocess.run(["git", "init", "-q", str(repo)], check=True, env=env)
    (repo / "a.py").write_text("x = 1\n")
    subprocess.run(["git", "-C", str(repo), "add", "a.py"], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "c"], check=True, env=env)
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    (tmp_path / "results").mkdir()
    m = build_manifest(tmp_path / "results", {}, repo_dir=repo)
    assert m["environment"]["git"] == {"commit": head, "dirty": False}
    (repo / "a.py").write_text("x = 2\n")
    m = build_manifest(tmp_path / "results", {}, repo_dir=repo)
    assert m["environment"]["git"] == {"commit": head, "dirty": True}


def test_missing_declared_output_and_missing_input_are_errors(study, monkeypatch):
    monkeypatch.chdir(study)
    with pytest.raises(InputError, match="declared workflow output is missing") as exc:
        build_manifest("results", CONFIG, [], ["results/report/index.html"])
    assert "results/report/index.html" in str(exc.value)
    with pytest.raises(InputError, match="does not exist"):
        build_manifest("results", CONFIG, ["nope.nii.gz"], [])
    with pytest.raises(InputError, match="results directory does not exist"):
        build_manifest("nowhere", CONFIG)
    with pytest.raises(InputError, match="config"):
        build_manifest("results", {"x": object()})


def test_read_manifest_errors_name_the_file(study):
    with pytest.raises(InputError, match="no manifest") as exc:
        read_manifest(study / "results")
    assert str(study / "results" / MANIFEST_RELPATH) in str(exc.value)
    (study / "results" / "provenance").mkdir()
    (study / "results" / MANIFEST_RELPATH).write_text("{not json")
    with pytest.raises(InputError, match="not readable JSON"):
        read_manifest(study / "results")
    (study / "results" / MANIFEST_RELPATH).write_text('{"schema_version": 99}')
    with pytest.raises(InputError, match="schema_version"):
        read_manifest(study / "results")


def test_package_versions_cover_the_pins():
    versions = package_versions()
    for name in ("numpy", "scipy", "pandas", "snakemake", "nibabel", "matplotlib", "painmrs"):
        assert versions[name], name


def test_manifest_cli(study, capsys, monkeypatch):
    from painmrs.cli import main

    monkeypatch.chdir(study)
    (study / "cfg.yaml").write_text("results_dir: results\ndataset: {seed: 5}\n")
    rc = main(["manifest", "results", "--config", "cfg.yaml", "--inputs", "basis.json",
               "--outputs", "results/metabolites.tsv", "--seed", "boot=3"])
    assert rc == 0
    m = read_manifest(study / "results")
    assert m["study"]["seeds"] == {"boot": 3, "dataset.seed": 5}
    assert list(m["study"]["inputs"]) == ["basis.json"]
    assert main(["manifest", "results", "--config-json", "{bad", "--inputs"]) == 2
    assert "--config-json" in capsys.readouterr().err
