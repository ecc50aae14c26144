"""Module boundaries: no import cycle between the top-level packages of painmrs, and the
analysis stages never import the demo simulator (tools/import_graph.py prints the graph)."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "import_graph", Path(__file__).resolve().parents[1] / "tools" / "import_graph.py")
import_graph = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(import_graph)

ANALYSIS = ("processing", "fitting", "quantify", "stats", "study", "report", "provenance", "basis", "io")


def test_no_cycle_between_top_level_packages():
    assert import_graph.cycles(import_graph.import_graph()) == []


def test_analysis_packages_do_not_import_demo():
    graph = import_graph.import_graph()
    offenders = {pkg: sorted(graph[pkg]) for pkg in ANALYSIS if "demo" in graph.get(pkg, ())}
    assert offenders == {}


def test_cycle_detection_finds_a_planted_cycle():
    assert import_graph.cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_provenance_imports_only_low_level_helpers():
    """Provenance records every stage, so it sits below none of them: it may use the
    low-level helpers only (no study, stats, fitting ...)."""
    low = {"__init__", "atomic", "errors", "io", "options"}
    assert import_graph.import_graph()["provenance"] <= low


def test_the_job_drivers_sit_on_top_and_the_config_model_below_them():
    """painmrs.jobs (what each rule runs) imports the stages; only the CLI imports it. The typed
    configuration model sits below the jobs and the report, above the stages' option modules."""
    graph = import_graph.import_graph()
    importers_of_jobs = sorted(pkg for pkg, deps in graph.items() if "jobs" in deps)
    assert set(importers_of_jobs) <= {"commands", "cli"}
    assert not {"jobs", "report", "commands"} & set(graph["configuration"])
    assert not {"jobs", "configuration"} & set(graph["study"])


def test_the_inventory_stage_imports_no_later_stage():
    """study/ (BIDS layout, tables, inventory, its input checks) runs before every spectral stage."""
    later = {"processing", "fitting", "quantify", "stats", "report", "jobs", "configuration"}
    assert not later & set(import_graph.import_graph()["study"])
