"""rows_to_arrow given rows built by hand with values of the wrong type (attrs models do
not check types): a ConfigError naming the column, the row and the value, never
pyarrow's "Expected bytes, got a 'int' object" from deep inside."""

from __future__ import annotations

from datetime import datetime

import pytest

from wolkvox_async import ConfigError, rows_to_arrow
from wolkvox_async.models import PhoneResult


@pytest.mark.parametrize(
    ("row", "column", "shown"),
    [
        (PhoneResult(telephone=573001234567), "telephone", "573001234567"),  # type: ignore[arg-type]
        (PhoneResult(opts=("a", 1)), "opts", "('a', 1)"),  # type: ignore[arg-type]
        (PhoneResult(date="2026-05-01"), "date", "'2026-05-01'"),  # type: ignore[arg-type]
    ],
)
def test_a_value_of_the_wrong_type_is_named_with_its_column_and_row(
    row: PhoneResult, column: str, shown: str
) -> None:
    rows = [PhoneResult(conn_id="ok", date=datetime(2026, 5, 1)), row]
    with pytest.raises(ConfigError) as raised:
        rows_to_arrow(rows)
    said = str(raised.value)
    assert f"column {column!r}" in said and "row 1" in said and shown in said, said
