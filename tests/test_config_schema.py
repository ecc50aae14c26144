"""Config validation: one test per kind of bad config; each error names the file and the key."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from painmrs.errors import InputError
from painmrs.study.config import load_config, validate_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def good() -> dict:
    with open(ROOT / "config" / "config.yaml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _write(tmp_path: Path, config: dict) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def _error(tmp_path, config) -> InputError:
    path = _write(tmp_path, config)
    with pytest.raises(InputError) as info:
        load_config(path)
    assert str(path) in str(info.value), "the message must name the config file"
    return info.value


@pytest.mark.parametrize("name", ["config.yaml", "full.yaml"])
def test_shipped_configs_are_valid(name):
    config = load_config(ROOT / "config" / name)
    # Defaults from the schema are filled in.
    assert config["execution"]["scans_per_job"] >= 1
    assert config["groups"]["control"] in config["groups"]["levels"]


def test_defaults_filled(good):
    config = copy.deepcopy(good)
    del config["execution"]
    out = validate_config(config, "x.yaml")
    assert out["execution"]["scans_per_job"] == 25
    assert out["results_dir"] == "results"


def test_unknown_key_typo_suggests_the_right_key(tmp_path, good):
    config = copy.deepcopy(good)
    config["regoins"] = config.pop("regions")
    err = _error(tmp_path, config)
    # The missing 'regions' and the unknown 'regoins' are both reported; the typo gets a hint.
    assert "regoins" in str(err)
    assert "did you mean 'regions'" in str(err)


def test_unknown_nested_key(tmp_path, good):
    config = copy.deepcopy(good)
    config["execution"]["scans_per_jobs"] = 10
    err = _error(tmp_path, config)
    assert err.field == "execution.scans_per_jobs"
    assert "did you mean 'scans_per_job'" in str(err)


def test_wrong_type(tmp_path, good):
    config = copy.deepcopy(good)
    config["dataset"]["simulate"] = "yes please"
    err = _error(tmp_path, config)
    assert err.field == "dataset.simulate"
    assert "wrong type" in str(err) and "boolean" in str(err)


def test_out_of_range(tmp_path, good):
    config = copy.deepcopy(good)
    config["execution"]["scans_per_job"] = 0
    err = _error(tmp_path, config)
    assert err.field == "execution.scans_per_job"
    assert "out of range" in str(err) and ">= 1" in str(err)


def test_out_of_range_echo_time(tmp_path, good):
    config = copy.deepcopy(good)
    config["sequences"]["press"]["te_ms"] = -30
    err = _error(tmp_path, config)
    assert err.field == "sequences.press.te_ms"


def test_missing_control_group(tmp_path, good):
    config = copy.deepcopy(good)
    del config["groups"]["control"]
    err = _error(tmp_path, config)
    assert err.field == "groups.control"
    assert "required key is missing" in str(err)


def test_control_group_not_declared(tmp_path, good):
    config = copy.deepcopy(good)
    config["groups"]["control"] = "HX"
    err = _error(tmp_path, config)
    assert err.field == "groups.control"
    assert "'HX'" in str(err) and "not one of the declared groups" in str(err)


def test_unknown_region_in_analysis(tmp_path, good):
    config = copy.deepcopy(good)
    config["analysis"]["families"]["group_differences"]["regions"] = ["ACC", "amygdala"]
    err = _error(tmp_path, config)
    assert err.field == "analysis.families.group_differences.regions[1]"
    assert "'amygdala' is not a declared region" in str(err)


def test_unknown_group_in_design(tmp_path, good):
    config = copy.deepcopy(good)
    config["analysis"]["designs"]["acupuncture"]["groups"] = ["Migraine"]
    err = _error(tmp_path, config)
    assert err.field == "analysis.designs.acupuncture.groups[0]"


def test_control_treatment_must_be_a_treatment(tmp_path, good):
    config = copy.deepcopy(good)
    config["analysis"]["designs"]["oxytocin"]["control_treatment"] = "sham"
    err = _error(tmp_path, config)
    assert err.field == "analysis.designs.oxytocin.control_treatment"


def test_bad_enum_value(tmp_path, good):
    config = copy.deepcopy(good)
    config["sequences"]["press"]["sequence"] = "PRESSS"
    err = _error(tmp_path, config)
    assert err.field == "sequences.press.sequence"
    assert "choose one of" in str(err) and "'PRESS'" in str(err)


@pytest.mark.parametrize("label", ["../etc", "insula L", "<script>"])
def test_region_label_with_path_or_html_characters(tmp_path, good, label):
    config = copy.deepcopy(good)
    config["regions"][label] = {"description": "bad"}
    err = _error(tmp_path, config)
    assert err.field == "regions"
    assert repr(label) in str(err) and "letters and digits" in str(err)


def test_megapress_needs_editing_frequencies(tmp_path, good):
    config = copy.deepcopy(good)
    del config["sequences"]["megapress"]["edit_on_ppm"]
    err = _error(tmp_path, config)
    assert err.field == "sequences.megapress.edit_on_ppm"


def test_vendor_file_with_undeclared_region(tmp_path, good):
    config = copy.deepcopy(good)
    config["dataset"]["simulate"] = False
    config["dataset"]["vendor_files"] = [
        {"subject": "01", "acq": "press", "voi": "cerebellum", "format": "philips", "svs": "a.sdat"}
    ]
    err = _error(tmp_path, config)
    assert err.field == "dataset.vendor_files[0].voi"


def test_not_yaml(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("dataset: [unclosed\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_config(path)
    assert str(path) in str(info.value) and "not valid YAML" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_config(tmp_path / "absent.yaml")


def test_duplicate_vendor_scan(tmp_path, good):
    config = copy.deepcopy(good)
    config["dataset"].update(simulate=False)
    entry = {"subject": "01", "acq": "press", "voi": "ACC", "format": "rda", "svs": "a.rda"}
    config["dataset"]["vendor_files"] = [entry, dict(entry, svs="b.rda")]
    err = _error(tmp_path, config)
    assert err.field == "dataset.vendor_files[1]" and "vendor_files[0]" in str(err)


def test_stage_sections_of_the_schema_match_their_option_objects():
    """The schema's processing/fit/quantify/report sections list exactly the fields (and JSON
    types) of the option dataclasses the stages parse them into (tools/stage_schema.py)."""
    import importlib.util

    import yaml

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("stage_schema", root / "tools" / "stage_schema.py")
    stage_schema = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stage_schema)
    schema = yaml.safe_load((root / "config" / "schemas" / "config.schema.yaml").read_text())
    for name, generated in stage_schema.stage_sections().items():
        written = schema["properties"][name]
        assert written["additionalProperties"] is False, name
        assert written["properties"] == generated["properties"], name


def test_a_stage_key_typo_is_refused_by_the_schema_with_a_suggestion(tmp_path):
    from painmrs.configuration import load_study_options
    from painmrs.study.config import read_yaml_strict

    root = Path(__file__).resolve().parents[1]
    config = read_yaml_strict(root / "config" / "config.yaml")
    config["fit"] = {"mega_diff": {"max_shfit_hz": 3}}
    with pytest.raises(InputError) as info:
        load_study_options(config, "study.yaml")
    assert info.value.field == "fit.mega_diff.max_shfit_hz" and "max_shift_hz" in str(info.value)
