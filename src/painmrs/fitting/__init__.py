"""Linear-combination fitting of MRS spectra (variable projection, CRLBs), water and GABA+ fits."""

from .model import DEFAULT_COMBINATIONS, FitOptions, FitResult, estimate_noise_sd, fit_spectrum, resample_basis

__all__ = ["DEFAULT_COMBINATIONS", "FitOptions", "FitResult", "estimate_noise_sd", "fit_spectrum", "resample_basis"]
