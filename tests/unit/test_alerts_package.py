"""Every file the alerts service reads besides its modules goes into its wheel.

The Dockerfile installs `alerts/` as a package (`pip install /src/alerts`): a template
or a style sheet that `package-data` does not name is missing there, and the pages
answer 500. Building a wheel needs setuptools from the network, so this reads the
rule the build follows instead.
"""

from __future__ import annotations

import fnmatch
import tomllib

from coldchain_devstack import REPO

ALERTS = REPO / "alerts"


def test_every_file_but_the_modules_is_package_data() -> None:
    config = tomllib.loads((ALERTS / "pyproject.toml").read_text())
    package_data: dict[str, list[str]] = config["tool"]["setuptools"]["package-data"]
    patterns = [
        f"{package.replace('.', '/')}/{pattern}"
        for package, globs in package_data.items()
        for pattern in globs
    ]
    files = [
        path.relative_to(ALERTS).as_posix()
        for path in (ALERTS / "coldchain_alerts").rglob("*")
        if path.is_file() and path.suffix not in {".py", ".pyc"}
    ]
    assert any(name.endswith(".html") for name in files)
    left_out = [name for name in files if not any(fnmatch.fnmatch(name, p) for p in patterns)]
    assert left_out == [], f"add these to [tool.setuptools.package-data]: {left_out}"
