"""Captions: import, browser-exact WebVTT checking, quality rules, drafts, approval.

- ``webvtt``: the W3C WebVTT parsing algorithm, as browsers apply it.
- ``formats``: reading SRT, SBV and WebVTT in any common encoding, to WebVTT.
- ``quality``: the caption-quality rulebook of CAPTIONS.md.
- ``draft``: offline speech recognition shaped into cues.
- ``tracks``: caption tracks in the catalogue, their approval and export.
"""
