"""The in-process harness moved to helpers.py; test_rules.py still imports it from here."""

from helpers import SITE, Answer, Harness, upload_fields

__all__ = ["SITE", "Answer", "Harness", "upload_fields"]
