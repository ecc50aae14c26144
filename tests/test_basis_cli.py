"""``painmrs basis``: writes what the library simulates, byte-identically, and refuses bad input."""

from __future__ import annotations

import numpy as np
import pytest

from painmrs.basis import load_basis, simulate_basis
from painmrs.basis.simulate import clear_memory_cache
from painmrs.cli import main


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PAINMRS_CACHE", str(tmp_path / "cache"))
    clear_memory_cache()
    yield
    clear_memory_cache()


def test_press_fsl_output_matches_library_and_is_deterministic(tmp_path, capsys):
    args = ["basis", "--metabolites", "NAA,Cr,Lac", "--points", "512", "--bandwidth-hz", "2000", "--include-mm"]
    assert main(args + ["-o", str(tmp_path / "a")]) == 0
    assert main(args + ["-o", str(tmp_path / "b")]) == 0
    assert "PRESS basis with 8 spectra written to" in capsys.readouterr().out
    files = sorted(p.name for p in (tmp_path / "a").glob("*.json"))
    assert files == sorted(f"{n}.json" for n in ("NAA", "Cr", "Lac", "MM09", "MM12", "MM14", "MM17", "MM20"))
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    got = load_basis(tmp_path / "a")
    want = simulate_basis(["NAA", "Cr", "Lac"], dwell_s=1 / 2000, n_points=512, include_mm=True)
    assert got.names == want.names and got.dwell_s == 1 / 2000 and got.sequence == "PRESS"
    np.testing.assert_array_equal(got.fids, want.fids)


def test_mega_and_lcmodel_outputs(tmp_path):
    assert (
        main(
            [
                "basis",
                "--sequence",
                "MEGA-PRESS",
                "--metabolites",
                "GABA,NAA",
                "--points",
                "256",
                "-o",
                str(tmp_path / "m"),
            ]
        )
        == 0
    )
    for part in ("ON", "OFF", "DIFF"):
        b = load_basis(tmp_path / "m" / part)
        assert b.names == ("GABA", "NAA") and b.sequence == f"MEGA-PRESS:{part}" and b.echo_time_s == 0.068
    assert (
        main(
            ["basis", "--format", "lcmodel", "--metabolites", "NAA", "--points", "256", "-o", str(tmp_path / "x.BASIS")]
        )
        == 0
    )
    b = load_basis(tmp_path / "x.BASIS")
    assert b.names == ("NAA",) and b.n_points == 256 and b.echo_time_s == pytest.approx(0.03)


def test_conversion_with_resampling(tmp_path):
    assert main(["basis", "--metabolites", "NAA", "--points", "1024", "-o", str(tmp_path / "src")]) == 0
    assert (
        main(
            [
                "basis",
                "--input",
                str(tmp_path / "src"),
                "--bandwidth-hz",
                "2000",
                "--points",
                "512",
                "-o",
                str(tmp_path / "dst"),
            ]
        )
        == 0
    )
    src, dst = load_basis(tmp_path / "src"), load_basis(tmp_path / "dst")
    assert dst.dwell_s == 1 / 2000 and dst.n_points == 512
    np.testing.assert_allclose(dst.fids[:, 0], src.fids[::2, 0][:512], atol=1e-12)


def test_bad_requests_exit_2_with_a_named_field(tmp_path, capsys):
    assert main(["basis", "--metabolites", "NAA,Foo", "-o", str(tmp_path / "a")]) == 2
    assert "--metabolites" in capsys.readouterr().err
    assert main(["basis", "--points", "1", "-o", str(tmp_path / "a")]) == 2
    assert "n_points" in capsys.readouterr().err
    assert main(["basis", "--dwell-s", "0.001", "--bandwidth-hz", "1000", "-o", str(tmp_path / "a")]) == 2
    # a directory holding another basis is not silently mixed with the new one
    assert main(["basis", "--metabolites", "NAA,Cr", "--points", "64", "-o", str(tmp_path / "d")]) == 0
    assert main(["basis", "--metabolites", "NAA", "--points", "64", "-o", str(tmp_path / "d")]) == 2
    assert "already holds other basis files" in capsys.readouterr().err
    assert main(["basis", "--metabolites", "NAA", "--points", "64", "--force", "-o", str(tmp_path / "d")]) == 0
    assert load_basis(tmp_path / "d").names == ("NAA",)


def test_shaped_refocusing_option(tmp_path, capsys):
    args = ["basis", "--metabolites", "Lac", "--points", "256", "--refocusing", "shaped"]
    assert main(args + ["--pulse-duration-ms", "6.9", "--pulse-bandwidth-hz", "1300", "-o", str(tmp_path / "s")]) == 0
    got = load_basis(tmp_path / "s")
    want = simulate_basis(
        ["Lac"], n_points=256, refocusing="shaped", refocusing_pulse={"duration_ms": 6.9, "bandwidth_hz": 1300.0}
    )
    np.testing.assert_array_equal(got.fids, want.fids)
    ideal = simulate_basis(["Lac"], n_points=256)
    assert np.abs(got.fids - ideal.fids).max() > 0.05 * np.abs(ideal.fids).max()  # the option took effect
    capsys.readouterr()
    assert main(["basis", "--metabolites", "Lac", "--pulse-duration-ms", "5", "-o", str(tmp_path / "x")]) == 2
    assert "--refocusing shaped" in capsys.readouterr().err
    assert main(["basis", "--sequence", "MEGA-PRESS", "--refocusing", "shaped", "-o", str(tmp_path / "y")]) == 2
    assert "PRESS only" in capsys.readouterr().err
