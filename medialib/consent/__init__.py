"""Consent: people, their signed consent forms, and where they appear.

Helpers take the caller's session and never commit; every change writes an
audit event. Signed forms are personal data: stored content-addressed under
``assets/private/consent/`` with mode 0600, never published, and removed
from disk when a person is erased.
"""
