"""The self-contained HTML study report."""

from .build import build_report

__all__ = ["build_report"]
