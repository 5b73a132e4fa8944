"""Which wheel platform tags the index accepts.

The rules follow PyPI (Warehouse ``forklift/legacy.py``): a static list of
platforms plus patterns for macOS, manylinux (PEP 600), musllinux (PEP 656),
iOS (PEP 730) and Android (PEP 738), each restricted to known architectures.
A platform ABI without a published spec (e.g. ``linux_x86_64``) is refused,
because a wheel built for one distribution may not work on another.
"""

from __future__ import annotations

import re

__all__ = ["is_valid_platform_tag"]

_ALLOWED_PLATFORMS = frozenset(
    {
        "any",
        "win32",
        "win_arm64",
        "win_amd64",
        "win_ia64",
        "manylinux1_x86_64",
        "manylinux1_i686",
        "manylinux2010_x86_64",
        "manylinux2010_i686",
        "manylinux2014_x86_64",
        "manylinux2014_i686",
        "manylinux2014_aarch64",
        "manylinux2014_armv7l",
        "manylinux2014_ppc64",
        "manylinux2014_ppc64le",
        "manylinux2014_s390x",
        # piwheels (Raspberry Pi) wheels.
        "linux_armv6l",
        "linux_armv7l",
    }
)

_MACOSX_RE = re.compile(r"macosx_(?P<major>\d+)_(?P<minor>\d+)_(?P<arch>.+)")
_MACOSX_ARCHES = frozenset(
    {
        "ppc",
        "ppc64",
        "i386",
        "x86_64",
        "arm64",
        "intel",
        "fat",
        "fat3",
        "fat64",
        "universal",
        "universal2",
    }
)
# macOS 10.x only ever bumped the minor version; from 11 on, wheels use `<major>_0`.
_MACOSX_MAJOR_VERSIONS = frozenset({"11", "12", "13", "14", "15", "26"})

_IOS_RE = re.compile(r"ios_\d+_\d+_(?P<arch>.+)_(?:iphoneos|iphonesimulator)")
_IOS_ARCHES = frozenset({"arm64", "x86_64"})

_ANDROID_RE = re.compile(r"android_\d+_(?P<arch>.+)")
_ANDROID_ARCHES = frozenset({"armeabi_v7a", "arm64_v8a", "x86", "x86_64"})

_LINUX_RE = re.compile(r"(?P<libc>many|musl)linux_\d+_\d+_(?P<arch>.+)")
_JOINT_LINUX_ARCHES = frozenset(
    {"x86_64", "i686", "aarch64", "armv7l", "ppc64le", "s390x", "riscv64"}
)
_LINUX_ARCHES = {
    "many": _JOINT_LINUX_ARCHES | {"ppc64"},
    "musl": _JOINT_LINUX_ARCHES,
}


def is_valid_platform_tag(platform_tag: str) -> bool:
    """Return whether a single wheel platform tag (e.g. ``manylinux_2_17_x86_64``) is accepted."""
    if platform_tag in _ALLOWED_PLATFORMS:
        return True
    if m := _MACOSX_RE.fullmatch(platform_tag):
        if m["arch"] not in _MACOSX_ARCHES:
            return False
        if m["major"] == "10":
            return True
        return m["major"] in _MACOSX_MAJOR_VERSIONS and m["minor"] == "0"
    if m := _LINUX_RE.fullmatch(platform_tag):
        return m["arch"] in _LINUX_ARCHES[m["libc"]]
    if m := _IOS_RE.fullmatch(platform_tag):
        return m["arch"] in _IOS_ARCHES
    if m := _ANDROID_RE.fullmatch(platform_tag):
        return m["arch"] in _ANDROID_ARCHES
    return False
