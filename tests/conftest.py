"""Fixtures shared by every test folder.

``make_store`` writes a real DuckDB store from hand-typed rows, so an analysis can be checked on a case
small enough to work out on paper. Timestamps are written as local Beijing times ('2026-01-05 12:00')
unless they carry an offset; missing optional columns are null.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from workbench.config import Settings
from workbench.data import contract
from workbench.data.store import open_for_write, set_meta


def write_store(path, tables: dict[str, list[dict]], *, timezone="Asia/Shanghai", data_through=None):
    """Write ``tables`` ({table: [row dicts]}) into a new DuckDB store at ``path`` and return the path."""
    con = open_for_write(path, settings=Settings(timezone=timezone))
    for name, rows in tables.items():
        spec = contract.table(name)
        frame = pd.DataFrame(rows, columns=spec.column_names)
        for column in spec.columns:
            if column.type == "timestamp":
                values = pd.to_datetime(frame[column.name])
                if values.dt.tz is None:
                    values = values.dt.tz_localize(timezone)
                frame[column.name] = values.dt.tz_convert("UTC")
            elif column.type == "date":
                frame[column.name] = pd.to_datetime(frame[column.name]).dt.date
            elif column.type == "decimal":
                frame[column.name] = frame[column.name].map(lambda v: None if pd.isna(v) else f"{v:.2f}")
        arrow = pa.Table.from_pandas(frame, preserve_index=False)
        con.register("incoming", arrow)
        casts = ", ".join(f'CAST("{c.name}" AS {c.duckdb_type}) AS "{c.name}"' for c in spec.columns)
        con.execute(f'INSERT INTO "{name}" SELECT {casts} FROM incoming')
        con.unregister("incoming")
    if data_through:
        set_meta(con, data_through=data_through)
    con.close()
    return path


@pytest.fixture
def make_store(tmp_path):
    """make_store(tables, timezone=..., data_through=...) -> path of a new DuckDB store in tmp_path."""
    counter = iter(range(10_000))

    def _make(tables, **kwargs):
        return write_store(tmp_path / f"store{next(counter)}.duckdb", tables, **kwargs)

    return _make


def one_store(**overrides) -> dict:
    """A stores row for hand-made cases."""
    row = {"store_id": "S1", "name": "上海人民广场店", "city": "上海", "format": "direct", "cuisine": "火锅"}
    row.update(overrides)
    return row


@pytest.fixture
def store_row():
    return one_store
