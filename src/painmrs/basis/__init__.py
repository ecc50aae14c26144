"""Basis sets: the in-memory ``BasisSet``, simulation from spin systems, and file readers."""

from .basis_set import BasisSet
from .macromolecules import MM_COMPONENTS, mm_basis
from .readers import (
    NAME_ALIASES,
    canonical_name,
    detect_basis_format,
    load_basis,
    read_fsl_basis,
    read_jmrui_basis,
    read_lcmodel_basis,
    read_lcmodel_raw_dir,
    write_fsl_basis,
)
from .reference_peak import remove_reference_peak
from .resample import resample_basis
from .simulate import simulate_basis, simulate_mega_press_basis
from .spin_systems import DEFAULT_METABOLITES

__all__ = [
    "BasisSet",
    "DEFAULT_METABOLITES",
    "MM_COMPONENTS",
    "NAME_ALIASES",
    "canonical_name",
    "detect_basis_format",
    "load_basis",
    "mm_basis",
    "read_fsl_basis",
    "read_jmrui_basis",
    "read_lcmodel_basis",
    "read_lcmodel_raw_dir",
    "remove_reference_peak",
    "resample_basis",
    "simulate_basis",
    "simulate_mega_press_basis",
    "write_fsl_basis",
]
