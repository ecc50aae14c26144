"""De-identification of NIfTI-MRS header extensions: the explicit list of fields painmrs drops.

Every NIfTI-MRS file painmrs writes (converted vendor data, processed spectra, fits) passes its
header extension through :func:`strip_identifiers`. A key is dropped, at any nesting depth
(dicts, and dicts inside lists), when it is

- a NIfTI-MRS standard-defined key that names or describes the person, the site or the
  moment of acquisition/conversion (``NIFTI_MRS_KEYS``);
- a DICOM attribute keyword of the same kind (``DICOM_KEYWORDS``): converters and users copy
  DICOM keywords into user-defined header fields, and the Siemens RDA text header uses them;
- a vendor header field spec2nii (or a user) may nest into the extension: Siemens twix
  (``tPatientName``, ``PatientBirthDay``, ``flUsedPatientWeight`` ...), Philips SPAR
  (``patient_name``, ``patient_birth_date``, ``examination_name``, ``scan_date``), GE P-file
  (``rhe_patname``, ``rhe_dateofbirth``, ``rhe_hospname`` ...), Bruker subject files
  (``SUBJECT_name_string``, ``SUBJECT_dbirth`` ...) and Varian procpar (``operator_`` ...)
  (``VENDOR_KEYS``);
- a NIfTI-MRS user-defined key marked private (``private_`` prefix, the standard's convention).

Keys are compared after normalisation (lower case, only letters and digits), so
``PatientBirthDate``, ``patient_birth_date`` and ``PATIENT-BIRTH-DATE`` are the same key.
The list is explicit rather than a pattern on "patient": ``PatientPosition`` (head first,
supine) is acquisition geometry and is kept, as are ``Manufacturer``,
``ManufacturersModelName`` and ``SoftwareVersions`` (reporting items of the MRSinMRS
checklist; they identify a scanner model, not a person or site).

Participant labels (``sub-<label>``) are pseudonyms chosen by the study and pass through.

On top of that list, what painmrs *writes* is an allow-list (:func:`allowed_header`, used by
every NIfTI-MRS write): only the keys painmrs knows to be safe reach an output (the NIfTI-MRS
standard's acquisition keys, the dimension tags and their info/headers, the processing history,
and the few BIDS acquisition keys painmrs reads: ``SAFE_KEYS``). Anything else (older DICOM
keyword spellings, DICOM attribute names written out as text, operator names, free-text
comments and descriptions, a vendor field nobody has listed yet) is dropped: the DICOM PS3.15
basic profile removes such attributes, and a deny-list only removes what it knows. The dropped
key names (never their values) are logged once per process.
"""

from __future__ import annotations

import re
from typing import Any

# NIfTI-MRS standard-defined keys (nifti_mrs.definitions; the standard marks PatientName,
# PatientID, PatientDoB, DeviceSerialNumber and OriginalFile for anonymisation). We also drop
# PatientSex and PatientWeight (the list), the institution, and the time stamps:
# ConversionTime changes on every conversion (reruns must be byte-identical) and
# AcquisitionStartTime is a date of examination.
NIFTI_MRS_KEYS = frozenset(
    {
        "PatientName",
        "PatientID",
        "PatientDoB",
        "PatientSex",
        "PatientWeight",
        "InstitutionName",
        "InstitutionAddress",
        "DeviceSerialNumber",
        "OriginalFile",
        "ConversionTime",
        "AcquisitionStartTime",
    }
)

# DICOM attribute keywords (PS3.6) that identify the patient, the people involved, the site,
# or the dates/identifiers of the examination (the PS3.15 basic de-identification profile's
# usual suspects that can reach an MRS header).
DICOM_KEYWORDS = frozenset(
    {
        # patient module
        "PatientName",
        "PatientID",
        "IssuerOfPatientID",
        "OtherPatientIDs",
        "OtherPatientIDsSequence",
        "OtherPatientNames",
        "PatientBirthName",
        "PatientMotherBirthName",
        "PatientBirthDate",
        "PatientBirthTime",
        "PatientSex",
        "PatientAge",
        "PatientSize",
        "PatientWeight",
        "PatientAddress",
        "PatientTelephoneNumbers",
        "PatientComments",
        "MedicalRecordLocator",
        "EthnicGroup",
        "Occupation",
        "MilitaryRank",
        "BranchOfService",
        "CountryOfResidence",
        "RegionOfResidence",
        "AdditionalPatientHistory",
        "PregnancyStatus",
        "ResponsiblePerson",
        "ResponsibleOrganization",
        # people
        "OperatorsName",
        "PerformingPhysicianName",
        "ReferringPhysicianName",
        "ReferringPhysicianAddress",
        "ReferringPhysicianTelephoneNumbers",
        "NameOfPhysiciansReadingStudy",
        "PhysiciansOfRecord",
        "RequestingPhysician",
        "ScheduledPerformingPhysicianName",
        # site and device
        "InstitutionName",
        "InstitutionAddress",
        "InstitutionalDepartmentName",
        "StationName",
        "DeviceSerialNumber",
        # examination identifiers and dates
        "AccessionNumber",
        "StudyID",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "SOPInstanceUID",
        "FrameOfReferenceUID",
        "StudyDate",
        "StudyTime",
        "SeriesDate",
        "SeriesTime",
        "AcquisitionDate",
        "AcquisitionTime",
        "AcquisitionDateTime",
        "ContentDate",
        "ContentTime",
        "InstanceDate",
        "InstanceTime",
        "InstanceCreationDate",
        "InstanceCreationTime",
        "PerformedProcedureStepStartDate",
        "PerformedProcedureStepStartTime",
        "PerformedProcedureStepID",
        "RequestedProcedureID",
        "StudyDescription",
        "RequestAttributesSequence",
    }
)

# Vendor header fields spec2nii reads (or may nest verbatim into user-defined fields).
VENDOR_KEYS = frozenset(
    {
        # Siemens twix (MeasYaps / Dicom / Meas sections) and RDA
        "tPatientName",
        "PatientBirthDay",
        "flUsedPatientWeight",
        "flPatientHeight",
        "lPatientSex",
        "tPatientID",
        "PatientLOID",
        "StudyLOID",
        "SeriesLOID",
        "ManufacturersModelNameSerial",
        "tFrameOfReference",
        "DeviceSerialNumber",
        "InstitutionName",
        "OperatorsName",
        # Philips SPAR
        "patient_name",
        "patient_birth_date",
        "patient_id",
        "patient_sex",
        "patient_weight",
        "examination_name",
        "examination_date",
        "scan_date",
        # GE P-file (rdbm header)
        "rhe_patname",
        "rhe_patid",
        "rhe_patidff",
        "rhe_dateofbirth",
        "rhe_patsex",
        "rhe_patweight",
        "rhe_patage",
        "rhe_hospname",
        "rhe_refphy",
        "rhe_diagrad",
        "rhe_op",
        "rhe_reqnum",
        "rhe_ex_datetime",
        "rhe_ex_no",
        "rhe_study_uid",
        "rhs_series_uid",
        "rhr_rh_scan_date",
        "rhr_rh_scan_time",
        # Bruker subject file
        "SUBJECT_name",
        "SUBJECT_name_string",
        "SUBJECT_id",
        "SUBJECT_dbirth",
        "SUBJECT_sex",
        "SUBJECT_weight",
        "SUBJECT_date",
        "SUBJECT_abs_date",
        "SUBJECT_remarks",
        "OWNER",
        # Varian procpar
        "operator_",
        "investigator",
        "date",
        "time_run",
        "time_submitted",
        "time_complete",
        # jMRUI free-text field (may hold anything the operator typed)
        "AdditionalInformation",
    }
)

PRIVATE_PREFIX = "private_"


def normalise_key(key: str) -> str:
    """``PatientBirthDate``, ``patient_birth_date``, ``PATIENT-BIRTH-DATE`` -> ``patientbirthdate``."""
    return re.sub(r"[^0-9a-z]", "", str(key).lower())


IDENTIFYING_KEYS = frozenset(NIFTI_MRS_KEYS | DICOM_KEYWORDS | VENDOR_KEYS)
_NORMALISED = frozenset(normalise_key(k) for k in IDENTIFYING_KEYS)


def is_identifying(key: str) -> bool:
    """True for a header key that painmrs never writes (see the module docstring)."""
    return str(key).startswith(PRIVATE_PREFIX) or normalise_key(key) in _NORMALISED


def strip_identifiers(header: Any) -> Any:
    """A copy of ``header`` without identifying keys, at any depth (dicts and lists)."""
    if isinstance(header, dict):
        return {k: strip_identifiers(v) for k, v in header.items() if not is_identifying(k)}
    if isinstance(header, (list, tuple)):
        return [strip_identifiers(v) for v in header]
    return header


def identifying_paths(header: Any, prefix: str = "") -> list[str]:
    """Dotted paths of every identifying key in ``header`` (for checks and log messages)."""
    found: list[str] = []
    if isinstance(header, dict):
        for key, value in header.items():
            path = f"{prefix}{key}"
            if is_identifying(key):
                found.append(path)
            else:
                found += identifying_paths(value, path + ".")
    elif isinstance(header, (list, tuple)):
        for i, value in enumerate(header):
            found += identifying_paths(value, f"{prefix}[{i}].")
    return found


# ---- the allow-list of what painmrs writes ----------------------------------------------------
#: NIfTI-MRS standard-defined keys (v0.11) that describe the acquisition or its processing, not
#: the person, the site or the date (those are in NIFTI_MRS_KEYS above).
SAFE_STANDARD_KEYS = frozenset(
    {
        "SpectrometerFrequency", "ResonantNucleus",
        "EchoTime", "RepetitionTime", "InversionTime", "MixingTime", "ExcitationFlipAngle",
        "TxOffset", "RxOffset", "SpecFreqChemShift", "SpectralWidth", "VOI", "WaterSuppressed",
        "WaterSuppressionType", "SequenceTriggered", "SequenceName", "ProtocolName", "EditPulse",
        "EditCondition", "kSpace", "Manufacturer", "ManufacturersModelName", "SoftwareVersions",
        "TxCoil", "RxCoil", "PatientPosition", "ConversionMethod", "ProcessingApplied",
    }
)
#: BIDS MRS sidecar acquisition keys that painmrs reads (sequence detection, the MRSinMRS
#: checklist of the report).
SAFE_BIDS_KEYS = frozenset(
    {"PulseSequenceType", "PulseSequenceName", "TransmitCoilName", "ReceiveCoilName", "NumberOfTransients", "Averages"}
)
SAFE_KEYS = SAFE_STANDARD_KEYS | SAFE_BIDS_KEYS
#: dim_5..dim_7 and their _info / _header (the dimension tags and what each index means).
_DIM_KEY = re.compile(r"^dim_[5-7](_info|_header)?$")
#: Keys of one ProcessingApplied entry (the standard's structure).
PROCESSING_ENTRY_KEYS = frozenset({"Time", "Program", "Version", "Method", "Details"})
_LOGGED: set[str] = set()


def _drop(key: str, where: str, dropped: set[str] | None) -> None:
    if dropped is not None:
        dropped.add(f"{where}{key}")


def allowed_header(header: dict, dropped: set[str] | None = None) -> dict:
    """The header extension reduced to the allow-list (``SAFE_KEYS``, the ``dim_N`` keys and the
    processing history), identifying keys removed at any depth inside what is kept. The names
    of dropped keys (dotted, never their values) are added to ``dropped``."""
    out = {}
    for key, value in header.items():
        if is_identifying(key) or not (key in SAFE_KEYS or _DIM_KEY.match(str(key))):
            _drop(key, "", dropped)
            continue
        if str(key).endswith("_header") and isinstance(value, dict):
            kept = {}
            for k, v in value.items():  # the header of one dimension: standard keys only
                if k in SAFE_KEYS and not is_identifying(k):
                    kept[k] = strip_identifiers(v)
                else:
                    _drop(k, f"{key}.", dropped)
            value = kept
        elif key == "ProcessingApplied" and isinstance(value, list):
            entries = []
            for entry in value:
                if isinstance(entry, dict):
                    for k in entry:
                        if k not in PROCESSING_ENTRY_KEYS:
                            _drop(k, "ProcessingApplied[].", dropped)
                    entry = {k: strip_identifiers(v) for k, v in entry.items() if k in PROCESSING_ENTRY_KEYS}
                entries.append(entry)
            value = entries
        else:
            value = strip_identifiers(value)
        out[key] = value
    return out


def log_dropped(dropped: set[str], log=None) -> None:
    """Log the names of dropped header keys, each once per process (key names only)."""
    import logging

    new = sorted(dropped - _LOGGED)
    if new:
        _LOGGED.update(new)
        (log or logging.getLogger("painmrs.deidentify")).info(
            "header keys not on painmrs' allow-list, dropped from the outputs: %s", ", ".join(new))
