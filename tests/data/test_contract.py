"""The contract as code: tables, keys, types, references."""

import duckdb
import pyarrow as pa
import pytest

from workbench.data import contract
from workbench.data.store import open_for_write
from workbench.errors import ContractError


def test_required_tables_are_stores_members_orders():
    assert contract.REQUIRED_TABLES == ("stores", "members", "orders")


def test_every_key_column_is_required():
    for t in contract.TABLES.values():
        for k in t.key:
            assert t.column(k).required, f"{t.name}.{k} is a key but not required"


def test_every_reference_points_to_the_key_of_an_existing_table():
    for table, column, ref_table, ref_column in contract.references():
        assert ref_table in contract.TABLES, f"{table}.{column}"
        assert (ref_column,) == contract.TABLES[ref_table].key, (
            f"{table}.{column} -> {ref_table}.{ref_column}"
        )


def test_load_order_puts_referenced_tables_first():
    position = {name: i for i, name in enumerate(contract.LOAD_ORDER)}
    for table, _, ref_table, _ in contract.references():
        if table != ref_table:
            assert position[ref_table] < position[table], f"{ref_table} must load before {table}"


def test_unknown_table_names_the_valid_ones():
    with pytest.raises(ContractError, match="expected one of: stores, members, orders"):
        contract.table("ordres")


def test_store_tables_round_trip_the_contract_types(tmp_path):
    """A table created from the contract reads back with the contract's Arrow schema."""
    con = open_for_write(tmp_path / "s.duckdb")
    for t in contract.TABLES.values():
        arrow = con.execute(f'SELECT * FROM "{t.name}"').to_arrow_table()
        assert arrow.schema.names == t.column_names
        for field, column in zip(arrow.schema, t.columns, strict=True):
            expected = column.arrow_type
            if pa.types.is_timestamp(expected):
                assert pa.types.is_timestamp(field.type) and field.type.tz is not None, column.name
            else:
                assert field.type == expected, f"{t.name}.{column.name}: {field.type} != {expected}"
    con.close()


def test_required_columns_are_not_null_in_the_store(tmp_path):
    con = open_for_write(tmp_path / "s.duckdb")
    with pytest.raises(duckdb.ConstraintException):
        con.execute("INSERT INTO stores (store_id, name, city) VALUES ('S1', NULL, '上海')")
    con.close()


def test_money_is_exact_decimal(tmp_path):
    con = open_for_write(tmp_path / "s.duckdb")
    con.execute(
        "INSERT INTO orders (order_id, store_id, ordered_at, amount) VALUES "
        "('o1','S1','2026-01-01 12:00:00+08', 0.1), ('o2','S1','2026-01-01 12:00:00+08', 0.2)"
    )
    total = con.execute("SELECT sum(amount)::VARCHAR FROM orders").fetchone()[0]
    assert total == "0.30"
    con.close()
