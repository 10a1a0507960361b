"""Parsing, normalisation, de-duplication and imputation of extracted records."""
