"""The README's generated tables match the catalog and the settings."""

import re

from caseflow_dev import docs


def test_readme_tables_are_fresh() -> None:
    assert docs.main(["--check"]) == 0, "run `make schemas`"


def test_readme_starts_with_the_two_commands() -> None:
    head = docs.README.read_text(encoding="utf-8").splitlines()[:6]
    assert "make run" in "\n".join(head)
    assert "make test" in "\n".join(head)


# A metric's name as the README writes it; package names (caseflow_kit, caseflow_dev.docs …) are followed by a dot
# or are one of the packages below.
METRIC_NAME = re.compile(r"\b(?:caseflow|faststream)_[a-z0-9_]+\b(?![./])")
PACKAGES = {f"caseflow_{p}" for p in ("contracts", "kit", "dev", "ops", *docs.SERVICES)}


def test_the_readme_names_only_metrics_that_are_exported_and_every_one_that_is() -> None:
    exported = set(docs.exported_metrics())
    assert "caseflow_events_handled_total" in exported
    assert "caseflow_notify_outcomes_total" in exported
    readme = docs.README.read_text(encoding="utf-8")
    named = {m for m in METRIC_NAME.findall(readme) if m not in PACKAGES}
    assert named, "the README names no metric at all"
    assert named - exported == set(), "the README names metrics no service exports"
    table = readme.split("<!-- metrics:start -->", 1)[1].split("<!-- metrics:end -->", 1)[0]
    assert {n for n in exported if f"`{n}`" not in table} == set(), "exported metrics the README does not list"
