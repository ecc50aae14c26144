"""Spin systems of brain metabolites: chemical shifts (ppm) and J couplings (Hz).

Values are from ``facts.md`` §1.1 (Govindaraju et al. NMR Biomed 2000, the 2015 corrigendum
where noted, and Near et al. MRM 2013 for edited GABA); glucose, glycine, alanine and the
PE couplings were checked against the published tables as quoted in public code (same
source, Govindaraju 2000 / corrigendum). Exchangeable NH/OH protons are left out, as in
most in-vivo basis sets.

Modelling choices (why):
- A group of equivalent protons that couples to nothing (NAA acetyl CH3, Cr CH3/CH2,
  choline N(CH3)3, sI) is one spin scaled by its proton count: same signal, 2x fewer states.
- Diastereotopic / equivalent protons in coupled groups are separate spins.
- Molecules whose moieties do not couple to each other (NAAG's Asp and Glu parts, GSH's
  Cys and Glu parts, GPC's glycerol and choline parts) are separate systems: the signal is
  the sum, and each Hilbert space stays small (the largest, glucose, has 7 spins = 128 states).
- Heteronuclear couplings (31P, 14N) are weak (huge shift difference) and the X nucleus is
  never pulsed, so each X spin state m just offsets the coupled protons by J*m Hz; we
  average over the 2S+1 states (see :mod:`painmrs.basis.density_matrix`).
- GABA: two published sets. ``GABA_SETS["near2013"]`` (Near et al. 2013, tuned to the edited
  multiplet) is used for MEGA-PRESS; ``GABA_SETS["govindaraju"]`` (Govindaraju 2000 with the
  2015 corrigendum geminals) is the default for PRESS. The choice is recorded in basis meta.
- Glucose: alpha and beta anomers in the 0.36 : 0.64 equilibrium ratio (the ISMRM 2016
  challenge used the same ratio), one 7-spin system each, scaled.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json


@dataclasses.dataclass(frozen=True)
class Heteronucleus:
    """A non-1H nucleus (never pulsed, never detected) weakly coupled to some protons."""

    nucleus: str  # "31P", "14N"
    spin: float  # 0.5 for 31P, 1 for 14N
    couplings: tuple[tuple[int, float], ...]  # (proton index, J in Hz)


@dataclasses.dataclass(frozen=True)
class SpinSystem:
    """Protons that couple among themselves; ``scale`` multiplies the signal."""

    shifts_ppm: tuple[float, ...]
    couplings: tuple[tuple[int, int, float], ...] = ()  # (i, j, J Hz), 0-based
    scale: float = 1.0
    hetero: tuple[Heteronucleus, ...] = ()
    label: str = ""

    @property
    def n_spins(self) -> int:
        return len(self.shifts_ppm)

    @property
    def n_protons(self) -> float:
        return self.scale * self.n_spins

    def key(self) -> str:
        """Stable text of every number that defines the system (for cache keys)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


@dataclasses.dataclass(frozen=True)
class Metabolite:
    name: str
    systems: tuple[SpinSystem, ...]
    source: str

    @property
    def n_protons(self) -> float:
        return sum(s.n_protons for s in self.systems)

    def digest(self) -> str:
        text = json.dumps([self.name, [s.key() for s in self.systems]])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def singlet(ppm: float, n_protons: float, label: str = "") -> SpinSystem:
    return SpinSystem(shifts_ppm=(ppm,), scale=float(n_protons), label=label)


def _j(*triples) -> tuple[tuple[int, int, float], ...]:
    return tuple((int(i), int(j), float(J)) for i, j, J in triples)


GOV2000 = "Govindaraju, Young, Maudsley. NMR Biomed 2000;13:129-153"
GOV2015 = GOV2000 + " with the 2015 corrigendum (NMR Biomed 2015;28:923)"
NEAR2013 = "Near et al. MRM 2013;70:1183-1191 (GABA, Kaiser-type values)"

# fmt: off
GABA_SETS: dict[str, Metabolite] = {
    "near2013": Metabolite(
        "GABA",
        (
            SpinSystem(
                # C2 (2.284) x2, C3 (1.888) x2, C4 (3.013) x2
                shifts_ppm=(2.284, 2.284, 1.888, 1.888, 3.013, 3.013),
                couplings=_j(
                    (0, 1, -15.938), (2, 3, -15.000), (4, 5, -14.062),
                    (0, 2, 7.678), (1, 3, 7.678), (0, 3, 6.980), (1, 2, 6.980),
                    (2, 4, 8.510), (3, 5, 8.510), (2, 5, 6.503), (3, 4, 6.503),
                ),
                label="GABA",
            ),
        ),
        NEAR2013,
    ),
    "govindaraju": Metabolite(
        "GABA",
        (
            SpinSystem(
                # C4 (3.0128) x2, C3 (1.889) x2, C2 (2.284) x2
                shifts_ppm=(3.0128, 3.0128, 1.889, 1.889, 2.284, 2.284),
                couplings=_j(
                    (0, 1, -12.021), (0, 2, 5.372), (0, 3, 7.127), (1, 2, 10.578), (1, 3, 6.982),
                    (2, 3, -13.121), (2, 4, 7.755), (2, 5, 7.432), (3, 4, 6.173), (3, 5, 7.933),
                    (4, 5, -10.744),
                ),
                label="GABA",
            ),
        ),
        GOV2015,
    ),
}

_GLC_ALPHA = SpinSystem(
    shifts_ppm=(5.216, 3.519, 3.698, 3.395, 3.822, 3.826, 3.749),
    couplings=_j((0, 1, 3.8), (1, 2, 9.6), (2, 3, 9.4), (3, 4, 9.9), (4, 5, 1.5), (4, 6, 6.0), (5, 6, -12.1)),
    scale=0.36,
    label="alpha-Glc",
)
_GLC_BETA = SpinSystem(
    shifts_ppm=(4.630, 3.230, 3.473, 3.387, 3.450, 3.882, 3.707),
    couplings=_j((0, 1, 8.0), (1, 2, 9.1), (2, 3, 9.4), (3, 4, 8.9), (4, 5, 1.6), (4, 6, 5.4), (5, 6, -12.3)),
    scale=0.64,
    label="beta-Glc",
)

METABOLITES: dict[str, Metabolite] = {
    "NAA": Metabolite(
        "NAA",
        (
            singlet(2.008, 3, "acetyl CH3"),
            SpinSystem((4.3817, 2.6727, 2.4863), _j((0, 1, 3.861), (0, 2, 9.821), (1, 2, -15.592)), label="Asp"),
        ),
        GOV2000,
    ),
    "NAAG": Metabolite(
        "NAAG",
        (
            singlet(2.042, 3, "acetyl CH3"),
            SpinSystem((4.607, 2.721, 2.519), _j((0, 1, 4.412), (0, 2, 9.515), (1, 2, -15.910)), label="Asp"),
            SpinSystem(
                (4.128, 2.049, 1.881, 2.180, 2.190),
                _j(
                    (0, 1, 4.61), (0, 2, 8.42), (1, 2, -14.28), (1, 3, 10.56), (1, 4, 6.09),
                    (2, 3, 4.90), (2, 4, 11.11), (3, 4, -15.28),
                ),
                label="Glu",
            ),
        ),
        GOV2000 + "; Glu-moiety J: J Pharm Biomed Anal 2003;31:455",
    ),
    "Cr": Metabolite("Cr", (singlet(3.027, 3, "CH3"), singlet(3.913, 2, "CH2")), GOV2000),
    "PCr": Metabolite("PCr", (singlet(3.029, 3, "CH3"), singlet(3.930, 2, "CH2")), GOV2000),
    "GPC": Metabolite(
        "GPC",
        (
            singlet(3.212, 9, "N(CH3)3"),
            SpinSystem(
                (3.605, 3.672, 3.903, 3.871, 3.946),
                _j((0, 1, -14.78), (0, 2, 5.77), (1, 2, 4.53), (2, 3, 5.77), (2, 4, 4.53), (3, 4, -14.78)),
                hetero=(Heteronucleus("31P", 0.5, ((3, 6.03), (4, 6.03))),),
                label="glycerol",
            ),
            SpinSystem(
                (4.312, 4.312, 3.659, 3.659),
                _j((0, 1, -9.32), (0, 2, 3.10), (0, 3, 5.90), (1, 2, 5.90), (1, 3, 3.10), (2, 3, -9.32)),
                hetero=(
                    Heteronucleus("14N", 1.0, ((0, 2.67), (1, 2.67))),
                    Heteronucleus("31P", 0.5, ((0, 6.03), (1, 6.03))),
                ),
                label="choline",
            ),
        ),
        GOV2015,
    ),
    "PCh": Metabolite(
        "PCh",
        (
            singlet(3.208, 9, "N(CH3)3"),
            SpinSystem(
                (4.2805, 4.2805, 3.641, 3.641),
                _j((0, 1, -14.89), (0, 2, 2.284), (0, 3, 7.231), (1, 2, 7.326), (1, 3, 2.235), (2, 3, -14.19)),
                hetero=(
                    Heteronucleus("14N", 1.0, ((0, 2.68), (1, 2.772))),
                    Heteronucleus("31P", 0.5, ((0, 6.298), (1, 6.249))),
                ),
                label="choline",
            ),
        ),
        GOV2015,
    ),
    "mI": Metabolite(
        "mI",
        (
            SpinSystem(
                (3.5217, 4.0538, 3.5217, 3.6144, 3.2690, 3.6144),
                _j((0, 1, 2.889), (0, 5, 9.998), (1, 2, 3.006), (2, 3, 9.997), (3, 4, 9.485), (4, 5, 9.482)),
            ),
        ),
        GOV2000,
    ),
    "sI": Metabolite("sI", (singlet(3.34, 6),), GOV2000),
    "Glu": Metabolite(
        "Glu",
        (
            SpinSystem(
                (3.7433, 2.0375, 2.1200, 2.3378, 2.3520),
                _j(
                    (0, 1, 7.331), (0, 2, 4.651), (1, 2, -14.849), (1, 3, 6.413), (1, 4, 8.406),
                    (2, 3, 8.478), (2, 4, 6.875), (3, 4, -15.915),
                ),
            ),
        ),
        GOV2000,
    ),
    "Gln": Metabolite(
        "Gln",
        (
            SpinSystem(
                (3.7530, 2.1290, 2.1090, 2.4320, 2.4540),
                _j(
                    (0, 1, 5.847), (0, 2, 6.500), (1, 2, -14.504), (1, 3, 9.165), (1, 4, 6.347),
                    (2, 3, 6.324), (2, 4, 9.209), (3, 4, -15.371),
                ),
            ),
        ),
        GOV2000,
    ),
    "GSH": Metabolite(
        "GSH",
        (
            singlet(3.769, 2, "Gly CH2"),
            SpinSystem((4.5608, 2.9264, 2.9747), _j((0, 1, 7.09), (0, 2, 4.71), (1, 2, -14.06)), label="Cys"),
            SpinSystem(
                (3.769, 2.159, 2.146, 2.510, 2.560),
                _j(
                    (0, 1, 6.34), (0, 2, 6.36), (1, 2, -15.48), (1, 3, 6.7), (1, 4, 7.6),
                    (2, 3, 7.6), (2, 4, 6.7), (3, 4, -15.92),
                ),
                label="Glu",
            ),
        ),
        GOV2000,
    ),
    "Lac": Metabolite(
        "Lac", (SpinSystem((4.0974, 1.3142, 1.3142, 1.3142), _j((0, 1, 6.933), (0, 2, 6.933), (0, 3, 6.933))),), GOV2000
    ),
    "Asp": Metabolite("Asp", (SpinSystem((3.8914, 2.8011, 2.6533), _j((0, 1, 3.647), (0, 2, 9.107), (1, 2, -17.426))),), GOV2000),
    "Tau": Metabolite(
        "Tau",
        (
            SpinSystem(
                (3.4206, 3.4206, 3.2459, 3.2459),
                _j((0, 1, -12.438), (0, 2, 6.742), (0, 3, 6.464), (1, 2, 6.403), (1, 3, 6.792), (2, 3, -12.93)),
            ),
        ),
        GOV2015,
    ),
    "Gly": Metabolite("Gly", (singlet(3.548, 2),), GOV2000),
    "Ala": Metabolite(
        "Ala", (SpinSystem((3.7746, 1.4667, 1.4667, 1.4667), _j((0, 1, 7.234), (0, 2, 7.234), (0, 3, 7.234))),), GOV2000
    ),
    "Glc": Metabolite("Glc", (_GLC_ALPHA, _GLC_BETA), GOV2000 + "; alpha:beta = 0.36:0.64"),
    "PE": Metabolite(
        "PE",
        (
            SpinSystem(
                (3.9765, 3.9765, 3.216, 3.216),
                _j((0, 1, -14.56), (0, 2, 3.182), (0, 3, 6.716), (1, 2, 7.204), (1, 3, 2.98), (2, 3, -14.71)),
                hetero=(
                    Heteronucleus("31P", 0.5, ((0, 7.288), (1, 7.088))),
                    Heteronucleus("14N", 1.0, ((0, 0.464), (1, 0.588))),
                ),
            ),
        ),
        GOV2015,
    ),
}

# fmt: on

#: The default basis (DEVELOPERS.md metabolite list), in this order.
# fmt: off
DEFAULT_METABOLITES = (
    "NAA", "NAAG", "Cr", "PCr", "GPC", "PCh", "mI", "sI", "Glu", "Gln", "GABA",
    "GSH", "Lac", "Asp", "Tau", "Gly", "Ala", "Glc", "PE",
)
# fmt: on


def get_metabolite(name: str, gaba_set: str = "govindaraju") -> Metabolite:
    """Spin systems of one metabolite (painmrs name or a known alias)."""
    from .readers import canonical_name  # local import: readers imports nothing from here

    canon = canonical_name(name)
    if canon == "GABA":
        if gaba_set not in GABA_SETS:
            raise KeyError(f"unknown GABA parameter set {gaba_set!r}; choose from {sorted(GABA_SETS)}")
        return GABA_SETS[gaba_set]
    try:
        return METABOLITES[canon]
    except KeyError:
        raise KeyError(f"no spin system for {name!r}; known: {', '.join(DEFAULT_METABOLITES)}") from None
