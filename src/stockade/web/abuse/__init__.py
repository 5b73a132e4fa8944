"""Abuse pages and API: malware reports, the admin queue, quarantine, prohibited names."""
