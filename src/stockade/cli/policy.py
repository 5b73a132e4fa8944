"""The 2FA-policy commands of `stockade admin`: pin a project as critical."""

from __future__ import annotations
