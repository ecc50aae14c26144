"""Run-time data files: a source checkout reads the repository's config/schemas and demo design
(the installed wheel's copies are checked by tests/test_wheel_install.py)."""

from __future__ import annotations

from pathlib import Path

from painmrs import resources
from painmrs.commands import simulate
from painmrs.study.config import schema_dir

ROOT = Path(__file__).resolve().parents[1]


def test_source_checkout_reads_the_repository_files(monkeypatch):
    monkeypatch.delenv("PAINMRS_SCHEMA_DIR", raising=False)
    assert not resources.PACKAGED_DATA.exists(), "src/painmrs/_data/ is a build artefact; remove it"
    assert resources.repo_root() == ROOT
    assert schema_dir() == ROOT / "config" / "schemas"
    assert resources.demo_design() == ROOT / "config" / "demo" / "design.yaml"
    assert (resources.PACKAGE_DIR / "report" / "templates" / "index.html.j2").is_file()


def test_simulate_default_design(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no config/demo/design.yaml here: the one found with the package
    assert simulate._design(None) == str(ROOT / "config" / "demo" / "design.yaml")
    assert simulate._design("mine.yaml") == "mine.yaml"
    (tmp_path / "config" / "demo").mkdir(parents=True)
    (tmp_path / "config" / "demo" / "design.yaml").write_text("{}\n")
    assert simulate._design(None) == "config/demo/design.yaml"
