"""The retention settings: never shorter than food law's one year."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from coldchain.retention import DEFAULT_RETENTION_DAYS, MIN_RETENTION_DAYS
from coldchain_ingest.settings import IngestSettings


def test_records_are_kept_five_years_unless_configured() -> None:
    assert IngestSettings(_env_file=None).retention_days == DEFAULT_RETENTION_DAYS == 1827


@pytest.mark.parametrize("days", [365, 1, 0, -1827])
def test_a_retention_below_a_year_is_refused_with_the_reason(days: int) -> None:
    with pytest.raises(ValidationError, match=r"shorter than one year \(366 days\): food law"):
        IngestSettings(_env_file=None, retention_days=days)


def test_one_year_is_accepted() -> None:
    settings = IngestSettings(_env_file=None, retention_days=MIN_RETENTION_DAYS)
    assert settings.retention_days == 366
