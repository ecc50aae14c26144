"""painmrs: a reproducible workflow for brain MRS studies in chronic pain."""

__version__ = "0.1.0"
