"""envs/*.yaml (the per-rule conda environments) pin exactly the versions of pyproject.toml,
and every conda: directive in the workflow points at one of them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ENV_FILES = sorted((ROOT / "envs").glob("*.yaml"))


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _project_pins() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    deps = list(data["project"]["dependencies"])
    for extra in data["project"].get("optional-dependencies", {}).values():
        deps += extra
    pins = {}
    for dep in deps:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s;]+)\s*", dep)
        assert m, f"pyproject.toml dependency {dep!r} is not an exact pin"
        pins[_norm(m.group(1))] = m.group(2)
    return pins


def _env_pins(path: Path) -> dict[str, str]:
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    pins = {}
    for dep in spec["dependencies"]:
        if isinstance(dep, dict):
            for pip_dep in dep.get("pip", []):
                m = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s]+)", pip_dep.strip())
                assert m, f"{path.name}: pip dependency {pip_dep!r} is not an exact '==' pin"
                pins[_norm(m.group(1))] = m.group(2)
        else:
            m = re.fullmatch(r"([A-Za-z0-9_.-]+)=([^=\s]+)", dep.strip())
            assert m, f"{path.name}: conda dependency {dep!r} is not an exact '=' pin"
            pins[_norm(m.group(1))] = m.group(2)
    return pins


def test_there_are_env_files():
    assert len(ENV_FILES) >= 3


@pytest.mark.parametrize("path", ENV_FILES, ids=[p.name for p in ENV_FILES])
def test_env_pins_match_pyproject(path):
    project = _project_pins()
    env = _env_pins(path)
    python = env.pop("python")
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    lo, hi = re.findall(r"3\.(\d+)", requires)[:2]
    assert int(lo) <= int(python.split(".")[1]) < int(hi), f"{path.name}: python {python} outside {requires}"
    env.pop("pip", None)
    assert env, f"{path.name} pins no packages"
    for name, version in env.items():
        assert name in project, f"{path.name}: {name} is not a dependency in pyproject.toml"
        assert version == project[name], f"{path.name}: {name}=={version} but pyproject.toml pins {project[name]}"


def test_every_conda_directive_names_an_existing_env():
    sources = [ROOT / "Snakefile"] + sorted((ROOT / "rules").glob("*.smk"))
    used = set()
    for src in sources:
        for m in re.finditer(r'conda:\s*\n\s*"([^"]+)"', src.read_text(encoding="utf-8")):
            target = (src.parent / m.group(1)).resolve()
            assert target.is_file(), f"{src.name}: conda env {m.group(1)} does not exist"
            used.add(target)
    assert used, "no conda: directives found"


def test_pin_mismatch_is_detected(tmp_path):
    """The check can fail: a drifted pin is reported."""
    bad = tmp_path / "drift.yaml"
    bad.write_text("dependencies:\n  - python=3.11\n  - pip:\n      - numpy==1.26.4\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="numpy==1.26.4"):
        test_env_pins_match_pyproject(bad)
