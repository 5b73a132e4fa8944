"""The abuse commands of `stockade admin`: quarantine, clear, prohibit, trust-reporter."""

from __future__ import annotations
