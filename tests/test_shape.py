"""Every service has the same shape (issue 14): the same modules for the same jobs, a thin `handlers.py`,
a README whose module map names every module, and a pure `domain` package that imports no runtime,
broker or database library (nor, through the service's own modules, anything that does)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("intake", "routing", "sla", "claims", "notify")
MODULES = ("handlers.py", "deps.py", "events.py", "http.py", "store.py", "app.py", "settings.py")
HANDLERS_MAX_LINES = 100
#: Libraries of the edges: the domain is plain Python over the contracts.
NOT_IN_DOMAIN = ("caseflow_kit", "faststream", "aiokafka", "pymongo")


def package(service: str) -> Path:
    return ROOT / "services" / service / f"caseflow_{service}"


def test_every_service_is_walked() -> None:
    found = sorted(p.parent.parent.name for p in (ROOT / "services").glob("*/caseflow_*/app.py"))
    assert found == sorted(SERVICES)


@pytest.mark.parametrize("service", SERVICES)
def test_the_same_modules_for_the_same_jobs(service: str) -> None:
    pkg = package(service)
    assert (pkg / "domain" / "__init__.py").is_file(), "no domain package"
    assert [m for m in MODULES if not (pkg / m).is_file()] == []


@pytest.mark.parametrize("service", SERVICES)
def test_handlers_are_thin(service: str) -> None:
    lines = len((package(service) / "handlers.py").read_text(encoding="utf-8").splitlines())
    assert lines <= HANDLERS_MAX_LINES, f"handlers.py has {lines} lines: rules belong in the domain"


@pytest.mark.parametrize("service", SERVICES)
def test_the_readme_maps_every_module(service: str) -> None:
    readme = (ROOT / "services" / service / "README.md").read_text(encoding="utf-8")
    assert "\n## Modules\n" in readme, "no module map (## Modules)"
    section = readme.split("\n## Modules\n", 1)[1].split("\n## ", 1)[0]
    pkg = package(service)
    modules = [p.name for p in pkg.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    modules += [f"domain/{p.name}" for p in (pkg / "domain").glob("*.py") if p.name != "__init__.py"]
    assert len(modules) > len(MODULES)
    unmapped = [m for m in modules if f"`{m}`" not in section and f"`{Path(m).name}`" not in section]
    assert unmapped == [], "modules the README's module map does not name"


def imports(path: Path, service: str) -> list[str]:
    """What a module imports, as absolute names (a relative import resolved against the service's package)."""
    here = ["caseflow_" + service, *path.relative_to(package(service)).with_suffix("").parts]
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.append(node.module or "")
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level]
            names += (
                [".".join([*base, node.module])] if node.module else [".".join([*base, a.name]) for a in node.names]
            )
    return names


def module_file(name: str, service: str) -> Path | None:
    """The file of one of the service's own modules (None: another package, or a name inside a module)."""
    parts = name.split(".")[1:]
    path = package(service).joinpath(*parts)
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if parts and candidate.is_file():
            return candidate
    return None


def edges_reached(service: str) -> set[str]:
    """The edge libraries the domain imports, itself or through the service's other modules, with the way there."""
    seen: dict[Path, str] = {f: f.name for f in (package(service) / "domain").rglob("*.py")}
    todo = list(seen)
    reached = set()
    while todo:
        path = todo.pop()
        for name in imports(path, service):
            if name.split(".")[0] in NOT_IN_DOMAIN:
                reached.add(f"{seen[path]} -> {name}")
            found = module_file(name, service) if name.startswith(f"caseflow_{service}.") else None
            if found is not None and found not in seen:
                seen[found] = f"{seen[path]} -> {found.name}"
                todo.append(found)
    return reached


def test_the_walk_finds_an_edge_behind_a_service_module() -> None:
    """The check below can fail: the service's app module, reached from nowhere in the domain, imports the kit."""
    assert any(n.startswith("caseflow_kit") for n in imports(package("claims") / "app.py", "claims"))
    assert module_file("caseflow_claims.app", "claims") == package("claims") / "app.py"
    assert module_file("caseflow_claims.domain", "claims") == package("claims") / "domain" / "__init__.py"


@pytest.mark.parametrize("service", SERVICES)
def test_the_domain_imports_no_edge(service: str) -> None:
    assert len(list((package(service) / "domain").rglob("*.py"))) > 1
    assert edges_reached(service) == set()
