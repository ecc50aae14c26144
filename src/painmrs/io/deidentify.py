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
