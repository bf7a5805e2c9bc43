"""Rows as Arrow: the 300,000-row resource (past the Tabular API's 50,000-row cap) read by pyarrow,
polars and DuckDB through the Arrow PyCapsule interface, equal value for value to PostgreSQL's table;
SQL GROUP BY on a resource the API refuses to aggregate, equal to PostgreSQL's; filters, groups,
sorts and columns equal to psql's WHERE/ORDER BY; exports."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from conftest import run_async, BENCH_ROWS, BENCH_TABLE, RID_BENCH, Stack

COLUMNS = ["__id", "region", "annee", "montant"]
BIG_TABLE = "679c7414c1bbe2b2b95c1c7ed2702c02"


@pytest.fixture(scope="module")
def source(stack: Stack) -> pa.Table:
    """The bench table as PostgreSQL holds it, ordered by __id."""
    table = stack.psql_arrow(f'SELECT {", ".join(COLUMNS)} FROM "{BENCH_TABLE}" ORDER BY __id')
    assert table.num_rows == BENCH_ROWS
    return table


def assert_same_rows(got: pa.Table, want: pa.Table, what: str) -> None:
    """`got` holds `want`'s rows, value for value: matched by __id when `got` has it, else as sorted
    multisets of the shared columns."""
    assert got.num_rows == want.num_rows, f"{what}: {got.num_rows} rows, PostgreSQL has {want.num_rows}"
    columns = [c for c in want.column_names if c != "__id"]
    missing = [c for c in columns if c not in got.column_names]
    assert not missing, f"{what}: columns {missing} missing from {got.column_names}"
    if "__id" in got.column_names and "__id" in want.column_names:
        got = got.sort_by("__id")
        want = want.sort_by("__id")
        columns = ["__id", *columns]
    else:
        keys = [(c, "ascending") for c in columns]
        got, want = got.sort_by(keys), want.sort_by(keys)
    for column in columns:
        mine, theirs = got.column(column).to_pylist(), want.column(column).to_pylist()
        if mine != theirs:
            first = next(i for i, (a, b) in enumerate(zip(mine, theirs, strict=True)) if a != b)
            pytest.fail(f"{what}: column {column} differs at row {first}: {mine[first]!r} vs PostgreSQL {theirs[first]!r}")


def test_the_whole_resource_into_pyarrow(anon_client: Any, source: pa.Table) -> None:
    rows = anon_client.rows(RID_BENCH)
    assert hasattr(rows, "__arrow_c_stream__")
    table = pa.table(rows)
    assert_same_rows(table, source, "pyarrow.table(rows)")
    schema = table.schema
    assert pa.types.is_string(schema.field("region").type) or pa.types.is_large_string(schema.field("region").type)
    assert pa.types.is_integer(schema.field("annee").type), schema
    assert pa.types.is_floating(schema.field("montant").type), schema
    # Each consumption runs the query again.
    assert_same_rows(pa.table(rows), source, "pyarrow.table(rows), a second time")
    assert_same_rows(rows.to_arrow(), source, "rows.to_arrow()")


def test_the_whole_resource_into_polars(anon_client: Any, source: pa.Table) -> None:
    import polars as pl

    frame = pl.DataFrame(anon_client.rows(RID_BENCH))
    assert frame.height == BENCH_ROWS
    assert_same_rows(frame.to_arrow(), source, "polars.DataFrame(rows)")
    # polars.from_arrow turns any Arrow PyCapsule stream into a Series of structs (one per row).
    series = pl.from_arrow(anon_client.rows(RID_BENCH))
    assert isinstance(series, pl.Series)
    assert_same_rows(series.struct.unnest().to_arrow(), source, "polars.from_arrow(rows)")
    assert_same_rows(anon_client.rows(RID_BENCH).to_polars().to_arrow(), source, "rows.to_polars()")


def test_the_whole_resource_into_duckdb(anon_client: Any, source: pa.Table) -> None:
    import duckdb

    r = anon_client.rows(RID_BENCH)
    table = duckdb.sql("SELECT __id, region, annee, montant FROM r").arrow()
    if not isinstance(table, pa.Table):  # DuckDB 1.4+ may answer a RecordBatchReader
        table = table.read_all()
    assert_same_rows(table, source, "duckdb.sql(... FROM rows)")
    r = anon_client.rows(RID_BENCH)
    sums = duckdb.sql("SELECT count(*), sum(montant), sum(annee) FROM r").fetchall()[0]
    assert sums == (
        BENCH_ROWS,
        pa.compute.sum(source.column("montant")).as_py(),
        pa.compute.sum(source.column("annee")).as_py(),
    )


def test_to_pandas(anon_client: Any, source: pa.Table) -> None:
    import pandas as pd

    frame = anon_client.rows(RID_BENCH).to_pandas()
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == BENCH_ROWS
    assert_same_rows(pa.Table.from_pandas(frame, preserve_index=False), source, "rows.to_pandas()")


def test_a_group_by_on_a_resource_the_api_refuses_to_aggregate_equals_postgresqls(
    anon_client: Any, stack: Stack
) -> None:
    status, body = stack.request(
        "GET",
        f"/api/resources/{RID_BENCH}/data/?region__groupby&montant__sum",
        base=stack.get("TABULAR_URL"),
    )
    assert status == 403, f"the Tabular API aggregates this resource itself: {status} {body}"
    query = 'SELECT region, count(*) AS n, sum(montant) AS total, min(annee) AS first FROM "{}" GROUP BY region'
    want = {
        row["region"]: (int(row["n"]), float(row["total"]), int(row["first"]))
        for row in stack.psql_csv(query.format(BENCH_TABLE))
    }
    assert len(want) == 13
    for rows in (anon_client.sql(query.format(RID_BENCH)), run_async(lambda: anon_client.sql_async(query.format(RID_BENCH)))):
        got = {row["region"]: (row["n"], row["total"], row["first"]) for row in rows.to_pylist()}
        assert got == want


def test_sql_with_a_where_and_an_order(anon_client: Any, stack: Stack) -> None:
    sql = 'SELECT __id, montant FROM "{}" WHERE annee = 2019 AND montant > 400 ORDER BY montant DESC, __id LIMIT 1000'
    want = [(int(r["__id"]), float(r["montant"])) for r in stack.psql_csv(sql.format(BENCH_TABLE))]
    got = [(r["__id"], r["montant"]) for r in anon_client.sql(sql.format(RID_BENCH)).to_pylist()]
    assert len(want) == 1000 and got == want


def test_rows_iterate_as_dicts(anon_client: Any, stack: Stack) -> None:
    want = stack.psql_csv(f'SELECT {", ".join(COLUMNS)} FROM "{BENCH_TABLE}" ORDER BY __id LIMIT 5')
    first = list(anon_client.rows(RID_BENCH, limit=5))
    assert len(first) == 5
    for row, expected in zip(first, want, strict=True):
        assert isinstance(row, dict)
        assert (row["__id"], row["region"], row["annee"], row["montant"]) == (
            int(expected["__id"]),
            expected["region"],
            int(expected["annee"]),
            float(expected["montant"]),
        )
    # Iterating the whole resource yields its rows lazily; the first three are PostgreSQL's first three.
    iterator = iter(anon_client.rows(RID_BENCH))
    three = [next(iterator) for _ in range(3)]
    assert [r["__id"] for r in three] == [1, 2, 3]
    assert anon_client.rows(RID_BENCH).columns[-3:] == ["region", "annee", "montant"]


def ids_where(stack: Stack, condition: str) -> list[int]:
    rows = stack.psql_csv(f'SELECT __id FROM "{BENCH_TABLE}" WHERE {condition} ORDER BY __id')
    return [int(r["__id"]) for r in rows]


def ids_of(table: pa.Table) -> list[int]:
    return sorted(table.column("__id").to_pylist())


def test_filters_as_text_and_as_tuples_are_psqls_where(anon_client: Any, stack: Stack) -> None:
    want = ids_where(stack, "region = 'Île-de-France' AND annee >= 2020 AND montant < 100")
    assert 0 < len(want) < 20_000
    text = anon_client.rows(
        RID_BENCH, filters=["region__exact=Île-de-France", "annee__greater=2020", "montant__strictly_less=100"]
    ).to_arrow()
    tuples = anon_client.rows(
        RID_BENCH,
        filters=[("region", "exact", "Île-de-France"), ("annee", "greater", 2020), ("montant", "strictly_less", 100)],
    ).to_arrow()
    assert ids_of(text) == want
    assert ids_of(tuples) == want
    # `in` with several values.
    want_in = ids_where(stack, "region IN ('Corse', 'Bretagne') AND annee = 2015")
    got_in = anon_client.rows(RID_BENCH, filters=["region__in=Corse,Bretagne", ("annee", "exact", 2015)]).to_arrow()
    assert ids_of(got_in) == want_in


def test_a_where_group_past_the_cap_is_psqls_or(anon_client: Any, stack: Stack) -> None:
    want = ids_where(stack, "region = 'Corse' OR annee = 2015")
    assert len(want) > 50_000, "the matching rows are past the export cap"
    got = anon_client.rows(RID_BENCH, where="or(region__exact=Corse, annee__exact=2015)").to_arrow()
    assert ids_of(got) == want


def test_sort_and_columns(anon_client: Any, stack: Stack) -> None:
    want = stack.psql_csv(
        f"SELECT montant FROM \"{BENCH_TABLE}\" WHERE region = 'Corse' ORDER BY montant DESC"
    )
    table = anon_client.rows(
        RID_BENCH, filters=["region__exact=Corse"], sort=["montant:desc"], columns=["region", "montant"]
    ).to_arrow()
    assert [c for c in table.column_names if c != "__id"] == ["region", "montant"], table.column_names
    assert table.column("montant").to_pylist() == [float(r["montant"]) for r in want]
    assert set(table.column("region").to_pylist()) == {"Corse"}
    ascending = anon_client.rows(RID_BENCH, filters=["region__exact=Corse"], sort=["montant"]).to_arrow()
    assert ascending.column("montant").to_pylist() == [float(r["montant"]) for r in reversed(want)]


def test_async_rows_and_async_iteration(anon_client: Any, stack: Stack) -> None:
    condition = "region = 'Normandie' AND annee = 2017"
    want = ids_where(stack, condition)

    async def read() -> tuple[list[int], list[int]]:
        rows = await anon_client.rows_async(RID_BENCH, filters=["region__exact=Normandie", "annee__exact=2017"])
        table = pa.table(rows)
        iterated = [row["__id"] async for row in rows]
        return ids_of(table), sorted(iterated)

    from_table, iterated = asyncio.run(read())
    assert from_table == want
    assert iterated == want


def count_csv(path: Path) -> int:
    with path.open(newline="") as f:
        return sum(1 for _ in csv.DictReader(f))


def test_export_csv_past_the_cap(anon_client: Any, stack: Stack, tmp_path: Path, source: pa.Table) -> None:
    import pyarrow.csv as pacsv

    big = int(stack.psql_csv(f'SELECT count(*) AS n FROM "{BIG_TABLE}"')[0]["n"])
    target = tmp_path / "big.csv"
    summary = anon_client.export(stack.get("RID_BIG"), target)
    assert isinstance(summary, dict)
    assert count_csv(target) == big == 200_000
    assert not list(tmp_path.glob(".*")), "no partial file left"

    bench_csv = tmp_path / "bench.csv"
    anon_client.export(RID_BENCH, bench_csv)
    assert_same_rows(pacsv.read_csv(bench_csv), source, "CSV export")


def test_export_parquet(anon_client: Any, tmp_path: Path, source: pa.Table) -> None:
    import pyarrow.parquet as pq

    parquet = tmp_path / "bench.parquet"
    anon_client.export(RID_BENCH, parquet)
    assert_same_rows(pq.read_table(parquet), source, "Parquet export")


def test_export_json(anon_client: Any, stack: Stack, tmp_path: Path) -> None:
    target = tmp_path / "filtered.json"
    run_async(lambda: anon_client.export_async(RID_BENCH, target, filters=["region__exact=Corse"]))
    rows = json.loads(target.read_text())
    assert sorted(r["__id"] for r in rows) == ids_where(stack, "region = 'Corse'")


def test_an_unknown_export_format_is_refused_before_any_request(
    anon_client: Any, tmp_path: Path, datagouv_rs: Any
) -> None:
    for kwargs, target in (({"format": "jsonl"}, "x.csv"), ({}, "x.jsonl")):
        with pytest.raises(datagouv_rs.InvalidInput) as raised:
            anon_client.export(RID_BENCH, tmp_path / target, **kwargs)
        assert raised.value.status is None and "parquet" in str(raised.value), raised.value
    assert list(tmp_path.iterdir()) == []
