"""Normalisation, de-duplication and imputation of typed records (parsing is in :mod:`harvest.records`)."""
