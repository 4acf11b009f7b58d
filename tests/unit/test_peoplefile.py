"""The people file the alerts service writes and the dashboards' publish reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from coldchain.peoplefile import PeopleFile, PeopleFileError, Person
from coldchain_dashboards.cli import app as dashboards_app


def test_a_people_file_reads_back_as_written() -> None:
    written = PeopleFile(
        people=(
            Person(login="k.nord", name="Karin Nord", sites=("canteen",)),
            Person(login="hygiene", email="hygiene@hub.example", sites=None),
        )
    )
    assert PeopleFile.from_json(written.to_json()) == written


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not json", "Invalid JSON"),
        ('{"format": "coldchain-people/2", "people": []}', "format"),
        ('{"people": [{"login": "a", "sites": []}]}', "at least 1 item"),
        ('{"people": [{"login": "a", "sites": ["Kantine Nord"]}]}', "pattern"),
        (
            '{"people": [{"login": "a", "sites": null}, {"login": "a", "sites": null}]}',
            "more than once: a",
        ),
        ('{"people": [{"login": "", "sites": null}]}', "at least 1 character"),
        ('{"people": [{"login": "a"}]}', "sites"),
    ],
)
def test_a_bad_people_file_is_refused_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(PeopleFileError, match=reason) as refused:
        PeopleFile.from_json(text)
    assert "coldchain-alerts user export --format grafana" in str(refused.value)


def test_publish_refuses_a_bad_people_file_before_it_calls_grafana(tmp_path: Path) -> None:
    people = tmp_path / "people.json"
    people.write_text('{"people": [{"login": "a", "sites": []}]}')
    # Nothing listens on port 9: a publish that got as far as Grafana would say so.
    options = ["--url", "http://127.0.0.1:9", "--token", "t", "--people", str(people)]
    result = CliRunner().invoke(dashboards_app, ["publish", *options])
    assert result.exit_code == 1
    assert "not a people file" in result.output and "Traceback" not in result.output
