"""The lock file installs what requirements-dev.txt asks for, and the images the same."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _pinned(text: str) -> dict[str, str]:
    return {
        name.lower().replace("_", "-"): version
        for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, flags=re.MULTILINE)
    }


def test_every_direct_requirement_is_pinned_in_the_lock_as_asked() -> None:
    lock = _pinned((ROOT / "requirements-dev.lock").read_text(encoding="utf-8"))
    asked = (ROOT / "requirements-dev.txt").read_text(encoding="utf-8")
    for line in asked.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "-e")):
            continue
        name, _, version = line.partition("==")
        key = name.lower().replace("_", "-")
        assert key in lock, f"{name} is not in requirements-dev.lock: run `make lock`"
        if version:
            assert lock[key] == version, f"{name}: lock {lock[key]}, asked {version}"


def test_the_images_constraints_are_the_lock_without_our_own_parts() -> None:
    lock = (ROOT / "requirements-dev.lock").read_text(encoding="utf-8")
    constraints = (ROOT / "constraints.txt").read_text(encoding="utf-8")
    expected = "".join(
        line for line in lock.splitlines(keepends=True) if not line.startswith("-e ")
    )
    assert constraints == expected, "constraints.txt is stale: run `make lock`"
