"""Determinism helpers: two writes of the same data are byte-identical, and the things that
would make them differ (matplotlib's version/date metadata, SVG's random id salt, key order,
float repr, NaN, RNG order) are shown to be fixed."""

from __future__ import annotations

import io
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from painmrs.provenance.determinism import (  # noqa: E402
    format_float,
    json_text,
    rng_for,
    savefig,
    tsv_bytes,
    write_json,
    write_tsv,
)


def _figure():
    fig, ax = plt.subplots(figsize=(3, 2))
    x = np.linspace(0, 4, 200)
    ax.plot(x, np.exp(-x) * np.cos(6 * x), label="fid")
    ax.set_xlabel("ppm")
    ax.legend()
    return fig


@pytest.mark.parametrize("fmt", ["png", "pdf", "svg"])
def test_savefig_twice_is_byte_identical(tmp_path, fmt, monkeypatch):
    outs = []
    for i in range(2):
        # a different "now" for each write: the date must not reach the file
        monkeypatch.setenv("SOURCE_DATE_EPOCH", str(1_000_000_000 + 86_400 * 400 * i))
        fig = _figure()
        outs.append(savefig(fig, tmp_path / f"f{i}.{fmt}").read_bytes())
        plt.close(fig)
    assert outs[0] == outs[1]
    assert len(outs[0]) > 1000
    assert b"Matplotlib v" not in outs[0] and b"matplotlib.org" not in outs[0]
    assert b"CreationDate" not in outs[0]
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write left no temp file


def test_plain_matplotlib_svg_is_not_deterministic_so_the_fix_matters():
    outs = []
    for _ in range(2):
        fig = _figure()
        buf = io.BytesIO()
        fig.savefig(buf, format="svg")
        plt.close(fig)
        outs.append(buf.getvalue())
    assert outs[0] != outs[1]  # random clip-path ids and a date differ between writes


def test_png_metadata_has_no_software_key(tmp_path):
    from PIL import Image

    fig = _figure()
    path = savefig(fig, tmp_path / "a.png", dpi=50)
    plt.close(fig)
    with Image.open(path) as im:
        assert "Software" not in im.info
        assert im.size == (150, 100)  # 3x2 inches at the dpi asked for


def test_tsv_bytes_formatting_and_sorting(tmp_path):
    df = pd.DataFrame({"metabolite": ["NAA", "Cr", "GABA"], "value": [12.345678901, -0.0, np.nan],
                       "n": [3, 1, 2]})
    text = tsv_bytes(df, sort_by=["metabolite"]).decode()
    assert text == "metabolite\tvalue\tn\nCr\t0\t1\nGABA\tn/a\t2\nNAA\t12.3457\t3\n"
    write_tsv(df, tmp_path / "a.tsv", sort_by=["metabolite"])
    write_tsv(df.sample(frac=1, random_state=3), tmp_path / "b.tsv", sort_by=["metabolite"])
    assert (tmp_path / "a.tsv").read_bytes() == (tmp_path / "b.tsv").read_bytes()
    assert format_float(float("nan")) == "n/a" and format_float(-0.0) == "0"
    assert format_float(1 / 3) == "0.333333"


def test_json_text_sorted_plain_and_nan_free(tmp_path):
    obj = {"b": np.float64(0.1) + np.float64(0.2), "a": np.arange(3), "c": float("nan"),
           "d": {"z": np.int64(2), "y": (1, 2)}}
    text = json_text(obj)
    assert json.loads(text) == {"a": [0, 1, 2], "b": 0.30000000000000004, "c": None,
                                "d": {"y": [1, 2], "z": 2}}
    assert text.index('"a"') < text.index('"b"') < text.index('"c"') and text.endswith("}\n")
    reordered = {"d": {"y": (1, 2), "z": 2}, "c": None, "a": [0, 1, 2], "b": 0.30000000000000004}
    write_json(tmp_path / "x.json", obj)
    assert (tmp_path / "x.json").read_text() == json_text(reordered)


def test_rng_for_is_order_independent_and_key_specific():
    a1 = rng_for(42, "sub-HC001_ses-baseline_acq-press_voi-ACC").normal(size=5)
    _ = rng_for(42, "sub-HC002").normal(size=100)  # another scan drawn in between
    a2 = rng_for(42, "sub-HC001_ses-baseline_acq-press_voi-ACC").normal(size=5)
    b = rng_for(42, "sub-HC002").normal(size=5)
    c = rng_for(43, "sub-HC001_ses-baseline_acq-press_voi-ACC").normal(size=5)
    np.testing.assert_array_equal(a1, a2)
    assert not np.allclose(a1, b) and not np.allclose(a1, c)
    # statistically sane: the mean of 20,000 draws is within 5 standard errors of 0
    assert abs(rng_for(1, "x").normal(size=20_000).mean()) < 5 / np.sqrt(20_000)
