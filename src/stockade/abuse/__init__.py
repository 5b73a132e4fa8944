"""Abuse: malware reports, quarantine, trusted reporters, name checks."""
