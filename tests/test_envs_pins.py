"""envs/*.yaml (the per-rule conda environments) pin exactly the versions of constraints.txt
(the reproducible pins), constraints.txt pins every dependency of pyproject.toml (whose
compatible ranges it must satisfy), and every conda: directive in the workflow points at one
of the env files."""

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


CONSTRAINTS = ROOT / "constraints.txt"


def _project_requirements() -> dict[str, str]:
    """name -> version specifier of every dependency (and extra) in pyproject.toml."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    deps = list(data["project"]["dependencies"])
    for extra in data["project"].get("optional-dependencies", {}).values():
        deps += extra
    reqs = {}
    for dep in deps:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*([^;]*)", dep)
        assert m, f"pyproject.toml dependency {dep!r} is not understood"
        reqs[_norm(m.group(1))] = m.group(2).replace(" ", "")
    return reqs


def _project_pins(path: Path = CONSTRAINTS) -> dict[str, str]:
    """The reproducible pins: constraints.txt, ``name==version`` a line."""
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s;]+)", line)
        assert m, f"{path.name}: {line!r} is not an exact '==' pin"
        pins[_norm(m.group(1))] = m.group(2)
    return pins


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def _satisfies(version: str, spec: str) -> bool:
    for clause in filter(None, spec.split(",")):
        m = re.fullmatch(r"(>=|<=|==|<|>|!=)(.+)", clause)
        assert m, f"unsupported specifier {clause!r}"
        op, bound = m.group(1), _version(m.group(2))
        v = _version(version)
        ok = {">=": v >= bound, "<=": v <= bound, "==": v == bound, "<": v < bound, ">": v > bound,
              "!=": v != bound}[op]
        if not ok:
            return False
    return True


def test_pyproject_states_ranges_not_pins():
    for name, spec in _project_requirements().items():
        assert "==" not in spec, f"pyproject.toml pins {name}{spec}: pins belong in constraints.txt"
        assert ">=" in spec and "<" in spec, f"pyproject.toml: {name} needs a lower and an upper bound ({spec!r})"


def test_constraints_pin_every_dependency_within_its_range():
    pins = _project_pins()
    for name, spec in _project_requirements().items():
        assert name in pins, f"constraints.txt does not pin {name}"
        assert _satisfies(pins[name], spec), f"constraints.txt pins {name}=={pins[name]}, outside pyproject's {spec}"


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
def test_env_pins_match_constraints(path):
    project = _project_pins()
    env = _env_pins(path)
    python = env.pop("python")
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    lo, hi = re.findall(r"3\.(\d+)", requires)[:2]
    assert int(lo) <= int(python.split(".")[1]) < int(hi), f"{path.name}: python {python} outside {requires}"
    env.pop("pip", None)
    assert env, f"{path.name} pins no packages"
    for name, version in env.items():
        assert name in project, f"{path.name}: {name} is not pinned in constraints.txt"
        assert version == project[name], f"{path.name}: {name}=={version} but constraints.txt pins {project[name]}"


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
        test_env_pins_match_constraints(bad)


def test_range_check_can_fail():
    """The constraints-in-range check can fail."""
    assert _satisfies("2.4.6", ">=2.0,<3")
    assert not _satisfies("3.0.0", ">=2.0,<3")
    assert not _satisfies("1.26.4", ">=2.0,<3")
