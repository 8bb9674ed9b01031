"""Build one wheel of caseflowctl that installs on its own: `make dist` (or `python ops/build_dist.py OUT_DIR`).

caseflowctl runs on the kit's settings and the contracts' topic catalog, and `whatif` on the handlers of
intake, routing, sla and claims; none is on a package index: `pip install ./ops` alone cannot resolve them.
This wheel carries those packages (caseflow_ops, caseflow_kit, caseflow_contracts and the four services')
with the union of their dependencies, so
`pip install dist/caseflowctl-<version>-py3-none-any.whl` (or pipx) is all an operator needs.
It provides the same import packages as the workspace's own: install it in its own environment.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The projects bundled, in dependency order (ops last). `caseflowctl whatif` replays periods through the
#: services' own handlers, so intake, routing, sla and claims come along.
PROJECTS = (
    ROOT / "contracts",
    ROOT / "services" / "kit",
    *(ROOT / "services" / name for name in ("intake", "routing", "sla", "claims")),
    ROOT / "ops",
)


def bundled_pyproject() -> str:
    """The wheel's pyproject.toml: every bundled project's packages, package data and outside dependencies."""
    projects = [tomllib.loads((p / "pyproject.toml").read_text()) for p in PROJECTS]
    ours = {p["project"]["name"] for p in projects}
    dependencies: dict[str, str] = {}
    packages: list[str] = []
    package_data: dict[str, list[str]] = {}
    for project in projects:
        for requirement in project["project"]["dependencies"]:
            name = re.split(r"[\s<>=!~\[;]", requirement, maxsplit=1)[0].lower()
            if name not in ours:
                dependencies.setdefault(name, requirement)
        packages += project["tool"]["setuptools"]["packages"]
        package_data |= project["tool"]["setuptools"].get("package-data", {})
    ops = projects[-1]["project"]
    lines = [
        "[build-system]",
        'requires = ["setuptools>=69"]',
        'build-backend = "setuptools.build_meta"',
        "",
        "[project]",
        'name = "caseflowctl"',
        f'version = "{ops["version"]}"',
        'description = "caseflowctl, the caseflow operator CLI, with the caseflow contracts and kit it runs on"',
        f'requires-python = "{ops["requires-python"]}"',
        "dependencies = [" + ", ".join(f'"{d}"' for d in sorted(dependencies.values())) + "]",
        "",
        "[project.scripts]",
        *(f'{name} = "{target}"' for name, target in ops["scripts"].items()),
        "",
        "[tool.setuptools]",
        "packages = [" + ", ".join(f'"{p}"' for p in packages) + "]",
        "",
        "[tool.setuptools.package-data]",
        *(
            f"{name} = [{', '.join(repr(g).replace(chr(39), chr(34)) for g in globs)}]"
            for name, globs in package_data.items()
        ),
    ]
    return "\n".join(lines) + "\n"


def build(out: Path, uv: str) -> Path:
    """Stage the bundled packages and build the wheel into `out`; return its path."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="caseflowctl-") as staging:
        stage = Path(staging)
        for project in PROJECTS:
            for package in tomllib.loads((project / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]:
                if "." not in package:
                    shutil.copytree(project / package, stage / package, ignore=shutil.ignore_patterns("__pycache__"))
        (stage / "pyproject.toml").write_text(bundled_pyproject())
        before = set(out.glob("caseflowctl-*.whl"))
        subprocess.run([uv, "build", "--wheel", "--quiet", "--out-dir", str(out), str(stage)], check=True)  # noqa: S603
    (wheel,) = set(out.glob("caseflowctl-*.whl")) - before or set(out.glob("caseflowctl-*.whl"))
    return wheel


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="build_dist.py", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, nargs="?", default=ROOT / "dist", help="Where the wheel goes (./dist)")
    parser.add_argument("--uv", default=os.environ.get("UV", "uv"), help="The uv to build with (else UV, else PATH)")
    args = parser.parse_args(argv)
    sys.stdout.write(f"{build(args.out, args.uv)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
