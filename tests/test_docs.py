"""The README's generated tables match the catalog and the settings."""

from caseflow_dev import docs


def test_readme_tables_are_fresh() -> None:
    assert docs.main(["--check"]) == 0, "run `make schemas`"


def test_readme_starts_with_the_two_commands() -> None:
    head = docs.README.read_text(encoding="utf-8").splitlines()[:6]
    assert "make run" in "\n".join(head)
    assert "make test" in "\n".join(head)
