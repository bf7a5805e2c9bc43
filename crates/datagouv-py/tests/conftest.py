"""Shared fixtures of the datagouv_rs test suite.

The tests run against the real servers of the local test stack (udata, api-tabular, the Metrics API,
PostgreSQL), whose URLs and keys `tests/stack/stack.sh run` exports as DATAGOUV_TEST_* variables:

    bash tests/stack/stack.sh run /tmp/stack-py -- target/py-venv/bin/python -m pytest crates/datagouv-py/tests

Every expected value comes from an independent reader: the servers' own JSON read with urllib, or
PostgreSQL's answer read with psql.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: The 300,000-row resource of tests/stack/tabular/sql/47_sql_bench.sql: not on the aggregation
#: whitelist, past the Tabular API's 50,000-row export cap.
RID_BENCH = "10000000-0000-4000-8000-000000000023"
#: Its PostgreSQL table (columns __id, region, annee, montant).
BENCH_TABLE = "5f1c0e2d9b8a47c6a3e2d1c0b9a8f7e6"
BENCH_ROWS = 300_000


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without the stack, every test is skipped with the command that runs them."""
    if os.environ.get("DATAGOUV_TEST_UDATA_URL"):
        return
    if os.environ.get("DATAGOUV_PY_REQUIRE_STACK"):
        pytest.exit("DATAGOUV_PY_REQUIRE_STACK is set but the stack's variables are not", returncode=2)
    skip = pytest.mark.skip(
        reason="the local server stack is not running: run "
        "`bash tests/stack/stack.sh run /tmp/stack-py -- target/py-venv/bin/python -m pytest "
        "crates/datagouv-py/tests` from the repository root"
    )
    for item in items:
        item.add_marker(skip)


class Stack:
    """The stack's variables, without their DATAGOUV_TEST_ prefix."""

    def get(self, name: str) -> str:
        value = os.environ.get(f"DATAGOUV_TEST_{name}")
        if value is None:
            pytest.fail(f"the stack did not export DATAGOUV_TEST_{name}")
        return value

    # -- The Main API read without the SDK ----------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        key: str | None = None,
        body: Any = None,
        base: str | None = None,
    ) -> tuple[int, Any]:
        """One request to udata (`path` below the site root, e.g. `/api/1/datasets/ID/`), with
        urllib; the status and the decoded JSON body (None when empty)."""
        url = (base or self.get("UDATA_BASE_URL")).rstrip("/") + path
        headers = {"Accept": "application/json"}
        data = None
        if key:
            headers["X-API-KEY"] = key
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        text = raw.decode()
        if not text.strip():
            return status, None
        try:
            return status, json.loads(text)
        except json.JSONDecodeError:
            return status, text

    def json(self, path: str, *, key: str | None = None, base: str | None = None) -> Any:
        """The JSON of a GET that must succeed."""
        status, body = self.request("GET", path, key=key, base=base)
        assert status == 200, f"GET {path}: {status} {body!r}"
        return body

    def total(self, path: str, *, key: str | None = None) -> int:
        """The `total` udata announces for a list (`path` with no query)."""
        separator = "&" if "?" in path else "?"
        total = self.json(f"{path}{separator}page_size=1", key=key)["total"]
        assert isinstance(total, int)
        return total

    # -- PostgreSQL read with psql ------------------------------------------------------------

    def psql(self, sql: str) -> str:
        """What psql prints for `sql` (unaligned, tuples only is up to the caller)."""
        run = subprocess.run(
            [psql_binary(), self.get("PG_URI"), "-X", "-v", "ON_ERROR_STOP=1", "-c", sql],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert run.returncode == 0, f"psql failed on {sql!r}: {run.stderr}"
        return run.stdout

    def psql_csv(self, query: str) -> list[dict[str, str]]:
        """The rows of `query` as PostgreSQL writes them in CSV (with a header), as dicts of text."""
        text = self.psql(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER)")
        return list(csv.DictReader(io.StringIO(text)))

    def psql_arrow(self, query: str) -> Any:
        """The rows of `query` as a pyarrow.Table read from PostgreSQL's CSV."""
        import pyarrow.csv as pacsv

        text = self.psql(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER)")
        return pacsv.read_csv(io.BytesIO(text.encode()))


def psql_binary() -> str:
    """The psql of the stack's PostgreSQL 15, else the one on PATH (as tests/src/lib.rs does)."""
    bundled = "/usr/lib/postgresql/15/bin/psql"
    if Path(bundled).exists():
        return bundled
    found = shutil.which("psql")
    assert found, "psql is needed to read PostgreSQL's answers"
    return found


@pytest.fixture(scope="session")
def stack() -> Stack:
    return Stack()


@pytest.fixture(scope="session")
def datagouv_rs() -> Any:
    import datagouv_rs

    return datagouv_rs


def make_client(stack: Stack, key: str | None) -> Any:
    import datagouv_rs

    return datagouv_rs.Client(
        main_url=stack.get("UDATA_URL"),
        tabular_url=stack.get("TABULAR_URL"),
        metrics_url=stack.get("METRICS_URL"),
        api_key=key,
    )


@pytest.fixture(scope="session")
def client(stack: Stack) -> Any:
    """A client with the non-admin user's key."""
    return make_client(stack, stack.get("USER_KEY"))


@pytest.fixture(scope="session")
def admin_client(stack: Stack) -> Any:
    """A client with the sysadmin's key (udata lists users to sysadmins only)."""
    return make_client(stack, stack.get("ADMIN_KEY"))


@pytest.fixture(scope="session")
def anon_client(stack: Stack) -> Any:
    """A client with no key."""
    return make_client(stack, None)


@pytest.fixture()
def user_dataset(stack: Stack) -> Iterator[str]:
    """A new private dataset of the non-admin user, created with urllib; deleted afterwards."""
    status, body = stack.request(
        "POST",
        "/api/1/datasets/",
        key=stack.get("USER_KEY"),
        body={"title": "Jeu des tests Python", "description": "Créé par les tests de datagouv_rs."},
    )
    assert status == 201, f"{status} {body!r}"
    yield body["id"]
    stack.request("DELETE", f"/api/1/datasets/{body['id']}/", key=stack.get("USER_KEY"))


def run_async(make: Any) -> Any:
    """Awaits `make()` inside a running event loop (the awaitable is made there)."""

    async def main() -> Any:
        return await make()

    return asyncio.run(main())


def without_volatile(value: Any) -> Any:
    """`value` without the fields udata changes on every request made with a key: users'
    `last_login_at` (at any depth, e.g. organizations' members)."""
    if isinstance(value, dict):
        return {k: without_volatile(v) for k, v in value.items() if k != "last_login_at"}
    if isinstance(value, list):
        return [without_volatile(v) for v in value]
    return value


class Recorder:
    """A local HTTP server that records every request (method, path, headers) and answers each with
    `handler(path) -> (status, headers, body)` (default: 500). Its origin is not an API's."""

    def __init__(self, handler: Any = None) -> None:
        import http.server
        import threading

        self.requests: list[tuple[str, str, dict[str, str]]] = []
        recorder = self
        answer = handler or (lambda path: (500, {}, b'{"message": "the recorder answers nothing"}'))

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_one(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                recorder.requests.append((self.command, self.path, dict(self.headers.items())))
                status, headers, body = answer(self.path)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = handle_one

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def recorder() -> Iterator[Recorder]:
    """A recording server answering 500 to everything."""
    server = Recorder()
    yield server
    server.close()
