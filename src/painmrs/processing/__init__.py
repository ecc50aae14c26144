"""Spectral processing: pure MRSData -> MRSData steps and the per-scan pipeline with QC.

Steps (each records itself in the NIfTI-MRS ProcessingApplied history):
coil_combine.combine_coils, align.align_transients, outliers.reject_outliers,
averaging.average, eddy_current.eddy_current_correction, water_removal.remove_water,
phasing.reference_and_phase, mega_press.split_edit_conditions / combine_subspectra.
Pipeline: pipeline.process_scan -> ProcessedScan; pipeline.write_processed; qc.collect_qc.
"""

from .align import Alignment, align_to_reference, align_transients, estimate_alignment
from .averaging import average
from .coil_combine import CoilWeights, combine_coils, estimate_coil_weights, estimate_noise_covariance
from .eddy_current import eddy_current_correction
from .mega_press import classify_on_off, combine_subspectra, split_edit_conditions
from .outliers import OutlierResult, find_outliers, reject_outliers
from .phasing import display_spectrum, estimate_referencing, reference_and_phase
from .pipeline import ProcessedScan, ProcessingOptions, output_names, process_scan, write_processed
from .qc import collect_qc, fwhm, snr_values
from .water_removal import hlsvd, remove_water, water_component

__all__ = [
    "Alignment", "CoilWeights", "OutlierResult", "ProcessedScan", "ProcessingOptions",
    "align_to_reference", "align_transients", "average", "classify_on_off", "collect_qc",
    "combine_coils", "combine_subspectra", "display_spectrum", "eddy_current_correction",
    "estimate_alignment", "estimate_coil_weights", "estimate_noise_covariance", "estimate_referencing",
    "find_outliers", "fwhm", "hlsvd", "output_names", "process_scan", "reference_and_phase",
    "reject_outliers", "remove_water", "snr_values", "split_edit_conditions", "water_component",
    "write_processed",
]
