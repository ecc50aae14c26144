"""Readers and writers for MRS file formats."""
