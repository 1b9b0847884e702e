"""Ingest: turning an uploaded file into a verified, recorded cut.

The pipeline is a list of stages, each named after what it does::

    check_source -> probe_and_store (probe_source beside the store's copy) -> record_cut

The copy into a temporary file of the store starts at once and runs while the
upload is probed (one read pass overlapping ffprobe and the tail decode). If
the probe refuses the file the copy is stopped and removed, so nothing is
stored; nothing is recorded before the original sits complete and verified
under its final name.
"""
