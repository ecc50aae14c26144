"""Basis sets: the in-memory ``BasisSet``, simulation from spin systems, and file readers."""

from .basis_set import BasisSet

__all__ = ["BasisSet"]
