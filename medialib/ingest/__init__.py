"""Ingest: turning an uploaded file into a verified, recorded cut.

The pipeline is a list of stages, each named after what it does::

    check_source -> probe_source -> store_original -> record_cut

Nothing is stored before the probe accepts the file, and nothing is recorded
before the original sits complete and verified under its final name.
"""
