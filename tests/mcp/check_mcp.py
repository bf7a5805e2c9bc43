#!/usr/bin/env python3
"""End-to-end checks of `datagouv mcp` against the local real-server stack.

Run with the stack's variables exported (`set -a; . STATE/stack.env; set +a`):

    "$DATAGOUV_TEST_MCP_PYTHON" tests/mcp/check_mcp.py \
        --binary target/debug/datagouv --transport stdio|http

Every answer of the server is compared with what udata, api-tabular and the
Metrics API hold, read independently here with urllib, or with rows computed
from the formulas of the fixtures (tests/stack/tabular/sql/*.sql). Prints one
`ok: …` / `FAIL: …` line per check, `figure: …` lines, and `N passed, M failed`
last; exits 0 only when every check passed.

The main servers run with `--allow-private-urls` (the dataservices' documents are served on
this machine); a third server without it must refuse the same document, its host receiving
nothing. Also checked there: a 50 MB document stopped at the cap (over HTTP, the server's peak
RSS barely moves), reuses and topics against udata, the query udata receives once generic words
are left out (a recording proxy in front of udata), and, over HTTP, that the server is stateless
and that a client leaving mid-call closes the call's fetch. Every tool the server lists must have
answered a success once.

A second server, started with `--allow-writes` and the stack user's key
(DATAGOUV_TEST_USER_KEY), then creates, updates and uploads to a private
dataset of DATAGOUV_TEST_USER_ORG_ID, checked and deleted with urllib; the key
must appear in none of its answers nor its stderr. Last, the command-line
refusals (`--allow-writes` without a key, `--http 0.0.0.0:0` without
`--allow-remote`) are checked on the binary itself.

The security part (`--part security`; `--part all`, the default, runs both)
starts a server with the user's key, `--allow-writes` and `--allow-files`, and
calls every tool that takes an id with ids that would name other endpoints
(`../me/api_tokens`, `..`, `a/b`, …): each must be refused or find nothing,
never answer with the user's profile or tokens. It exports and uploads through
symbolic links that leave the allowed folder (refused, nothing written outside)
and, over HTTP, sends foreign and loopback `Origin`s (403 / served) and remote
`Host` names to `--http 0.0.0.0:0 --allow-remote` (served).

Only the official MCP Python SDK and the standard library are used.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
import warnings
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamablehttp_client
from mcp.shared.exceptions import McpError

warnings.filterwarnings("ignore", category=DeprecationWarning)

CALL_TIMEOUT = timedelta(seconds=180)

# ---------------------------------------------------------------------------
# reporting


class Report:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0

    def check(self, name: str, cond: bool, detail: object = "") -> bool:
        if cond:
            print(f"ok: {name}", flush=True)
            self.passed += 1
        else:
            text = str(detail)
            if len(text) > 600:
                text = text[:600] + "…"
            print(f"FAIL: {name}" + (f" — {text}" if text else ""), flush=True)
            self.failed += 1
        return bool(cond)

    def figure(self, text: str) -> None:
        print(f"figure: {text}", flush=True)

    async def group(self, name: str, fn, *args):
        """Runs a group of checks; an exception is one failed check."""
        try:
            return await fn(*args)
        except Exception as exc:  # noqa: BLE001 - any crash is a failure
            tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
            self.check(f"{name} (raised)", False, tb)
            return None


R = Report()

# ---------------------------------------------------------------------------
# independent HTTP (urllib, no proxies)

_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None, timeout: float = 60):
    """(status, headers, body bytes); HTTP errors are answers too."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with _opener.open(request, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers or {}), err.read()


def get_json(url: str, headers: dict | None = None):
    status, _, body = http("GET", url, headers=headers)
    if status != 200:
        raise RuntimeError(f"GET {url} -> {status}: {body[:300]!r}")
    return json.loads(body)


def qs(**params) -> str:
    return urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})


# ---------------------------------------------------------------------------
# fixtures, computed from the SQL formulas (tests/stack/tabular/sql)

CATS = ["alpha", "bêta", "gamma", "delta", "epsilon"]
REGIONS = ["Île-de-France", "Bretagne", "Occitanie"]
NAMES = ["Élodie Dupré", "François Lefèvre", "Zoë 🚀 Moreau", "李小龙", "Ørjan Æsir",
         "Ana-María O'Neil", 'Jean "Jojo" Martin', "Ñandú Çelik", "ÉMILE ZOLA"]
ODD = ["a&b", "x,y", "k=v", "v1.2.3", "it's \"quoted\"", "(parenthèses)", "50% + 1", "plain", "", "C:\\temp"]


def indexed_rows() -> list[dict]:
    """20_indexed.sql: rows of `indexed` and `not_aggregated`."""
    return [
        {
            "__id": i,
            "categorie": CATS[i % 5],
            "score": (i * 7) % 100,
            "annee": 2020 + i % 4,
            "region": None if i % 10 == 0 else REGIONS[i % 3],
            "poids": i * 0.5,
        }
        for i in range(1, 101)
    ]


TYPES_COLUMNS = [
    ("nom complet", "string", "string"),
    ("élément", "string", "string"),
    ("entier", "int", "int"),
    ("avg.views", "float", "float"),
    ("a__b", "int", "int"),
    ("actif", "bool", "booleen"),
    ("date", "date", "date"),
    ("horodatage", "datetime", "datetime_naive"),
    ("données", "json", "json"),
    ("code_commune", "string", "code_commune_insee"),
    ('say "hi"', "string", "string"),
]


def types_rows() -> list[dict]:
    """10_types.sql, the columns whose JSON form is unambiguous."""
    return [
        {
            "__id": i,
            "nom complet": None if i % 10 == 0 else NAMES[(i - 1) % 9],
            "élément": None if i % 11 == 0 else ODD[(i - 1) % 10],
            "entier": None if i % 7 == 0 else (i * 37) % 101 - 50,
            "avg.views": None if i % 8 == 0 else i * 1.5 + 0.25,
            "a__b": i % 5,
            "code_commune": f"{(i * 1789) % 99999:05d}",
            'say "hi"': None if i % 3 == 0 else f"q{i}",
        }
        for i in range(1, 31)
    ]


def month(m: int) -> str:
    return f"{2022 + m // 12}-{m % 12 + 1:02d}"


def res_download(j: int, m: int):
    return None if (j + m) % 12 == 0 else 10 * j + 3 * m


def ds_visit(k: int, m: int):
    return None if (k + m) % 10 == 0 else 100 * k + 7 * m + (k * m) % 13


def nsum(values):
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def ds_download(k: int, m: int):
    return nsum(res_download(j, m) for j in range(1, 16) if 1 + (j - 1) % 10 == k)


def reuse_visit(r: int, m: int):
    return None if (r + m) % 8 == 0 else 50 * r + 5 * m


def site_row(m: int) -> dict:
    return {
        "metric_month": month(m),
        "monthly_visit_dataset": nsum(ds_visit(k, m) for k in range(1, 13)),
        "monthly_download_resource": nsum(ds_download(k, m) for k in range(1, 13)),
        "monthly_visit_reuse": nsum(reuse_visit(r, m) for r in range(1, 9)),
    }


def same_value(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return float(a) == float(b)
    if isinstance(a, str) and isinstance(b, (int, float)) or isinstance(b, str) and isinstance(a, (int, float)):
        try:
            return float(a) == float(b)
        except ValueError:
            return False
    return a == b


def rows_match(got: list, expected: list[dict]) -> tuple[bool, str]:
    """Every expected key/value in each row, in order, and no extra rows."""
    if not isinstance(got, list):
        return False, f"rows is not a list: {got!r}"
    if len(got) != len(expected):
        return False, f"{len(got)} rows, expected {len(expected)}: got ids {[r.get('__id') for r in got if isinstance(r, dict)]}, expected {[r['__id'] for r in expected]}"
    for index, (g, e) in enumerate(zip(got, expected)):
        for key, value in e.items():
            if key not in g:
                return False, f"row {index}: no column {key!r} in {g!r}"
            if not same_value(g[key], value):
                return False, f"row {index}: {key!r} = {g[key]!r}, expected {value!r} (row {g!r})"
    return True, ""


# ---------------------------------------------------------------------------
# a static OpenAPI document for get_dataservice_openapi_spec


def make_spec(port: int) -> dict:
    return {
        "openapi": "3.0.3",
        "info": {"title": "Sonde datagouv-rs", "version": "1.2.3"},
        "servers": [{"url": f"http://127.0.0.1:{port}/api"}],
        "paths": {
            "/communes": {
                "get": {
                    "summary": "Liste des communes",
                    "parameters": [
                        {"name": "code", "in": "query", "required": True, "schema": {"type": "string"}},
                        {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                    ],
                },
                "post": {"summary": "Ajoute une commune"},
            },
            "/communes/{code}": {
                "parameters": [{"name": "code", "in": "path", "required": True}],
                "get": {"summary": "Une commune"},
                "delete": {"description": "Supprime une commune"},
            },
        },
    }


BIG_BYTES = 50 * 1024 * 1024


class SpecServer:
    """The third-party host of the dataservices' documents, on this machine: /openapi.json (a small
    document), /big.json (50 MB, streamed without a length), /slow.json (a byte every 0.2 s until
    the reader goes away, which it records)."""

    def __init__(self) -> None:
        outer = self
        self.hits = 0
        self.big_sent = 0
        self.slow_opened = threading.Event()
        self.slow_closed = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                route = self.path.split("?")[0]
                if route == "/big.json":
                    outer.hits += 1
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    chunk = b" " * 65536
                    try:
                        while outer.big_sent < BIG_BYTES:
                            self.wfile.write(chunk)
                            outer.big_sent += len(chunk)
                    except OSError:
                        pass
                    return
                if route == "/slow.json":
                    outer.hits += 1
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    outer.slow_opened.set()
                    try:
                        for _ in range(600):
                            self.wfile.write(b" ")
                            self.wfile.flush()
                            time.sleep(0.2)
                    except OSError:
                        outer.slow_closed.set()
                    return
                if route == "/openapi.json":
                    outer.hits += 1
                    body = json.dumps(outer.spec).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                else:
                    body = b"not found"
                    self.send_response(404)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.spec = make_spec(self.port)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


# ---------------------------------------------------------------------------
# helpers over a session


def text_of(result) -> str:
    return "".join(getattr(block, "text", "") for block in result.content)


def well_formed(result) -> tuple[bool, str]:
    """A success: not an error, one text block, structured content an object."""
    if result.isError:
        return False, f"isError: {text_of(result)[:400]}"
    if len(result.content) != 1 or getattr(result.content[0], "type", None) != "text":
        return False, f"content is not one text block: {result.content!r}"[:400]
    if not isinstance(result.structuredContent, dict):
        return False, f"structuredContent is not an object: {result.structuredContent!r}"[:400]
    return True, ""


CALLED: set[str] = set()  # tools that answered a success at least once


async def call(session: ClientSession, name: str, args: dict | None):
    result = await session.call_tool(name, args, read_timeout_seconds=CALL_TIMEOUT)
    if not result.isError:
        CALLED.add(name)
    return result


async def call_ok(session: ClientSession, label: str, name: str, args: dict | None):
    """Calls a tool and checks the answer is a well-formed success; returns (result, data)."""
    result = await call(session, name, args)
    good, why = well_formed(result)
    R.check(f"{label}: well-formed answer", good, why)
    return result, (result.structuredContent if good else {})


def is_error_result(result) -> bool:
    return bool(result.isError) and text_of(result).startswith("Error:")


# ---------------------------------------------------------------------------
# the checks


OFFICIAL = {
    "search_datasets": ["query", "page", "page_size", "sort", "last_update_range"],
    "search_organizations": ["query", "page", "page_size", "sort", "badge", "name", "business_number_id"],
    "get_dataset_info": ["dataset_id"],
    "list_dataset_resources": ["dataset_id"],
    "get_resource_info": ["resource_id"],
    "query_resource_data": ["resource_id", "page", "page_size", "filter_column", "filter_value",
                            "filter_operator", "sort_column", "sort_direction"],
    "search_dataservices": ["query", "page", "page_size"],
    "get_dataservice_info": ["dataservice_id"],
    "get_dataservice_openapi_spec": ["dataservice_id"],
    "get_metrics": ["dataset_id", "resource_id", "limit"],
}
EXTRA = {
    "get_resource_profile": ["resource_id"],
    "get_model_metrics": ["model", "id", "limit"],
    "export_resource_data": ["file", "format", "resource_id", "filters", "condition", "sorts"],
    "search_reuses": ["query", "page", "page_size", "sort", "type", "organization", "tag"],
    "get_reuse_info": ["reuse_id", "full_description"],
    "search_topics": ["query", "page", "page_size", "sort", "organization", "tag"],
    "get_topic_info": ["topic_id", "full_description", "page", "page_size", "element_kind"],
    "query_sql": ["sql", "max_rows"],
}


class Context:
    def __init__(self, env: dict, tmpdir: str, transport: str) -> None:
        self.env = env
        self.udata = env["DATAGOUV_TEST_UDATA_URL"].rstrip("/")
        self.udata2 = env["DATAGOUV_TEST_UDATA_V2_URL"].rstrip("/")
        self.tabular = env["DATAGOUV_TEST_TABULAR_URL"].rstrip("/")
        self.metrics = env["DATAGOUV_TEST_METRICS_URL"].rstrip("/")
        self.admin_key = env["DATAGOUV_TEST_ADMIN_KEY"]
        self.rid = {name: env[f"DATAGOUV_TEST_RID_{name}"] for name in
                    ("TYPES", "INDEXED", "NOT_AGGREGATED", "DELETED", "BIG")}
        self.catalog = env.get("DATAGOUV_TEST_CATALOG_DATASET_ID")
        self.tmpdir = tmpdir
        self.transport = transport
        self.dataservice_id: str | None = None
        self.extra_dataservices: dict[str, str] = {}  # route -> id, documents on other routes
        self.spec_server: SpecServer | None = None
        self.binary = ""
        self.home = ""
        self.pid: int | None = None  # the HTTP server's
        self.query_totals: dict[str, int] = {}


async def check_tools(session: ClientSession, ctx: Context) -> None:
    listed = await session.list_tools()
    tools = {tool.name: tool for tool in listed.tools}
    for name, params in {**OFFICIAL, **EXTRA}.items():
        tool = tools.get(name)
        if not R.check(f"list_tools: {name} present", tool is not None, f"tools: {sorted(tools)}"):
            continue
        props = set((tool.inputSchema or {}).get("properties", {}))
        missing = [p for p in params if p not in props]
        R.check(f"list_tools: {name} has {', '.join(params)}", not missing, f"missing {missing}; has {sorted(props)}")
    read_only = list(OFFICIAL) + ["get_resource_profile", "get_model_metrics", "search_reuses", "get_reuse_info",
                                  "search_topics", "get_topic_info", "query_sql"]
    wrong = [n for n in read_only if n in tools and (tools[n].annotations is None or tools[n].annotations.readOnlyHint is not True)]
    R.check("list_tools: read-only tools carry readOnlyHint=true", not wrong, f"not read-only: {wrong}")
    export = tools.get("export_resource_data")
    R.check("list_tools: export_resource_data readOnlyHint=false",
            export is not None and export.annotations is not None and export.annotations.readOnlyHint is False,
            export.annotations if export else "absent")
    writes = [n for n in ("create_dataset", "update_dataset", "upload_resource") if n in tools]
    R.check("list_tools: no write tool without --allow-writes", not writes, f"offered: {writes}")


async def check_search_datasets(session: ClientSession, ctx: Context) -> None:
    result, data = await call_ok(session, "search_datasets p1/5", "search_datasets", {"query": "", "page": 1, "page_size": 5})
    direct = get_json(f"{ctx.udata2}/datasets/search/?{qs(page=1, page_size=5)}")
    R.check("search_datasets p1/5: total equals v2 /datasets/search/", data.get("total") == direct["total"] and direct["total"] > 0,
            f"mcp {data.get('total')} v2 {direct['total']}")
    ids = [d.get("id") for d in data.get("datasets", [])]
    R.check("search_datasets p1/5: ids equal v2's", ids == [d["id"] for d in direct["data"]] and len(ids) == 5,
            f"mcp {ids} v2 {[d['id'] for d in direct['data']]}")
    titles = [d.get("title") for d in data.get("datasets", [])]
    R.check("search_datasets p1/5: titles equal v2's", titles == [d["title"] for d in direct["data"]], titles)
    R.check("search_datasets p1/5: next_page=2 and text names the total",
            data.get("next_page") == (2 if direct["total"] > 5 else None) and f"Found {direct['total']} dataset" in text_of(result),
            f"next_page={data.get('next_page')} text={text_of(result)[:120]!r}")

    args = {"query": "", "page": 2, "page_size": 5, "sort": "-created", "last_update_range": "last_3_years"}
    result, data = await call_ok(session, "search_datasets p2 sort+range", "search_datasets", args)
    direct = get_json(f"{ctx.udata2}/datasets/search/?{qs(page=2, page_size=5, sort='-created', last_update_range='last_3_years')}")
    ids = [d.get("id") for d in data.get("datasets", [])]
    R.check("search_datasets p2 sort=-created last_update_range: total and ids equal v2's",
            data.get("total") == direct["total"] and ids == [d["id"] for d in direct["data"]] and ids,
            f"mcp {data.get('total')} {ids} v2 {direct['total']} {[d['id'] for d in direct['data']]}")


async def check_search_organizations(session: ClientSession, ctx: Context) -> None:
    result, data = await call_ok(session, "search_organizations p1/5 sort", "search_organizations",
                                 {"query": "", "page": 1, "page_size": 5, "sort": "-created"})
    direct = get_json(f"{ctx.udata2}/organizations/search/?{qs(page=1, page_size=5, sort='-created')}")
    ids = [o.get("id") for o in data.get("organizations", [])]
    R.check("search_organizations p1/5: total and ids equal v2's",
            data.get("total") == direct["total"] and ids == [o["id"] for o in direct["data"]] and ids,
            f"mcp {data.get('total')} {ids} v2 {direct['total']} {[o['id'] for o in direct['data']]}")
    names = [o.get("name") for o in data.get("organizations", [])]
    R.check("search_organizations p1/5: names equal v2's", names == [o["name"] for o in direct["data"]], names)
    if not direct["data"]:
        return
    first = direct["data"][0]
    result, data = await call_ok(session, "search_organizations name=", "search_organizations",
                                 {"query": "", "name": first["name"], "page_size": 10})
    direct = get_json(f"{ctx.udata2}/organizations/search/?{qs(page=1, page_size=10, name=first['name'])}")
    ids = [o.get("id") for o in data.get("organizations", [])]
    R.check("search_organizations name=…: total and ids equal v2's",
            data.get("total") == direct["total"] and ids == [o["id"] for o in direct["data"]],
            f"mcp {data.get('total')} {ids} v2 {direct['total']} {[o['id'] for o in direct['data']]}")
    for label, params in (("badge=certified", {"badge": "certified"}),
                          ("business_number_id", {"business_number_id": "13000000000000"})):
        result, data = await call_ok(session, f"search_organizations {label}", "search_organizations",
                                     {"query": "", "page_size": 10, **params})
        direct = get_json(f"{ctx.udata2}/organizations/search/?{qs(page=1, page_size=10, **params)}")
        ids = [o.get("id") for o in data.get("organizations", [])]
        R.check(f"search_organizations {label}: total and ids equal v2's",
                data.get("total") == direct["total"] and ids == [o["id"] for o in direct["data"]],
                f"mcp {data.get('total')} {ids} v2 {direct['total']} {[o['id'] for o in direct['data']]}")


async def check_dataset_tools(session: ClientSession, ctx: Context) -> None:
    dataset_id = ctx.catalog
    direct = get_json(f"{ctx.udata}/datasets/{dataset_id}/")
    result, data = await call_ok(session, "get_dataset_info", "get_dataset_info", {"dataset_id": dataset_id})
    R.check("get_dataset_info: id, title, slug equal v1 /datasets/{id}/",
            (data.get("id"), data.get("title"), data.get("slug")) == (direct["id"], direct["title"], direct["slug"]),
            f"mcp {(data.get('id'), data.get('title'), data.get('slug'))} v1 {(direct['id'], direct['title'], direct['slug'])}")
    R.check("get_dataset_info: resources_count equals v1's resources",
            data.get("resources_count") == len(direct["resources"]) and len(direct["resources"]) > 0,
            f"{data.get('resources_count')} vs {len(direct['resources'])}")
    R.check("get_dataset_info: text names the title and id",
            f"Dataset: {direct['title']}" in text_of(result) and f"ID: {direct['id']}" in text_of(result), text_of(result)[:200])
    result, data = await call_ok(session, "get_dataset_info by slug", "get_dataset_info", {"dataset_id": direct["slug"]})
    R.check("get_dataset_info by slug: same id", data.get("id") == direct["id"], data.get("id"))

    result, data = await call_ok(session, "list_dataset_resources", "list_dataset_resources", {"dataset_id": dataset_id})
    got = data.get("resources", [])
    R.check("list_dataset_resources: ids equal v1's, in order",
            [r.get("id") for r in got] == [r["id"] for r in direct["resources"]],
            f"mcp {[r.get('id') for r in got]} v1 {[r['id'] for r in direct['resources']]}")
    R.check("list_dataset_resources: titles, formats, urls equal v1's",
            [(r.get("title"), r.get("format"), r.get("url")) for r in got]
            == [(r["title"], r["format"], r["url"]) for r in direct["resources"]], got[:2])
    R.check("list_dataset_resources: dataset_id and count in text",
            data.get("dataset_id") == direct["id"] and f"Total resources: {len(direct['resources'])}" in text_of(result),
            text_of(result)[:200])

    resource = direct["resources"][0]
    rdirect = get_json(f"{ctx.udata2}/datasets/resources/{resource['id']}/")
    result, data = await call_ok(session, "get_resource_info", "get_resource_info", {"resource_id": resource["id"]})
    got = data.get("resource") or {}
    keys = ("id", "title", "format", "url", "filesize", "mime")
    R.check("get_resource_info: id, title, format, url, filesize, mime equal v2 /datasets/resources/{id}/",
            all(got.get(k) == rdirect["resource"].get(k) for k in keys),
            f"mcp {[got.get(k) for k in keys]} v2 {[rdirect['resource'].get(k) for k in keys]}")
    R.check("get_resource_info: dataset_id equals v2's and the dataset's",
            data.get("dataset_id") == rdirect["dataset_id"] == direct["id"], data.get("dataset_id"))
    status, _, _ = http("GET", f"{ctx.tabular}/api/resources/{resource['id']}/profile/")
    R.check("get_resource_info: tabular_api matches the Tabular API's profile answer",
            data.get("tabular_api") is (status == 200), f"tool {data.get('tabular_api')} tabular HTTP {status}")


async def check_query_official(session: ClientSession, ctx: Context) -> None:
    rid = ctx.rid["INDEXED"]
    args = {"resource_id": rid, "page": 2, "page_size": 7, "filter_column": "categorie", "filter_value": "alpha",
            "filter_operator": "exact", "sort_column": "score", "sort_direction": "desc"}
    result, data = await call_ok(session, "query_resource_data official filter+sort", "query_resource_data", args)
    expected = sorted((r for r in indexed_rows() if r["categorie"] == "alpha"), key=lambda r: -r["score"])
    R.check("query_resource_data official: total equals the fixture's 20 alpha rows",
            data.get("total") == len(expected) == 20, data.get("total"))
    good, why = rows_match(data.get("rows"), expected[7:14])
    R.check("query_resource_data official: page 2 of 7 equals rows 8-14 by score desc (SQL formulas)", good, why)
    R.check("query_resource_data official: next_page=3", data.get("next_page") == 3, data.get("next_page"))
    ctx.query_totals["alpha"] = data.get("total")

    # an operator other than exact, on a non-ASCII column name, sorted on a dotted name
    args = {"resource_id": ctx.rid["TYPES"], "page_size": 50, "filter_column": "élément", "filter_value": ",",
            "filter_operator": "contains", "sort_column": "avg.views", "sort_direction": "desc"}
    result, data = await call_ok(session, "query_resource_data contains on élément", "query_resource_data", args)
    expected = sorted((r for r in types_rows() if r["élément"] is not None and "," in r["élément"]),
                      key=lambda r: -(r["avg.views"] if r["avg.views"] is not None else float("-inf")))
    good, why = rows_match(data.get("rows"), expected)
    R.check("query_resource_data élément contains ',' sorted by avg.views desc: rows equal the formulas'",
            good and data.get("total") == len(expected), why or data.get("total"))


async def check_query_extensions(session: ClientSession, ctx: Context) -> None:
    rid = ctx.rid["INDEXED"]
    rows = indexed_rows()
    # categorie = bêta AND score > 50 AND (region = Bretagne OR annee = 2023)
    args = {"resource_id": rid, "page_size": 50,
            "filters": [{"column": "categorie", "operator": "exact", "value": "bêta"},
                        {"column": "score", "operator": "strictly_greater", "value": "50"}],
            "condition": {"mode": "any_of",
                          "filters": [{"column": "region", "operator": "exact", "value": "Bretagne"},
                                      {"column": "annee", "operator": "exact", "value": "2023"}]},
            "sorts": [{"column": "score", "direction": "asc"}]}
    result, data = await call_ok(session, "query_resource_data two filters + any_of", "query_resource_data", args)
    expected = sorted((r for r in rows if r["categorie"] == "bêta" and r["score"] > 50
                       and (r["region"] == "Bretagne" or r["annee"] == 2023)), key=lambda r: r["score"])
    good, why = rows_match(data.get("rows"), expected)
    R.check(f"query_resource_data categorie=bêta AND score>50 AND (region=Bretagne OR annee=2023): the {len(expected)} expected rows",
            good and data.get("total") == len(expected) and len(expected) > 0, why or data.get("total"))

    # score < 60 AND ((region = Occitanie AND poids >= 25) OR annee = 2020), score desc
    args = {"resource_id": rid, "page_size": 50,
            "filters": [{"column": "score", "operator": "strictly_less", "value": "60"}],
            "condition": {"mode": "any_of",
                          "filters": [{"column": "annee", "operator": "exact", "value": "2020"}],
                          "groups": [{"mode": "all_of",
                                      "filters": [{"column": "region", "operator": "exact", "value": "Occitanie"},
                                                  {"column": "poids", "operator": "greater", "value": "25"}]}]},
            "sorts": [{"column": "score", "direction": "desc"}]}
    result, data = await call_ok(session, "query_resource_data nested all_of in any_of", "query_resource_data", args)
    expected = sorted((r for r in rows if r["score"] < 60
                       and ((r["region"] == "Occitanie" and r["poids"] >= 25) or r["annee"] == 2020)),
                      key=lambda r: -r["score"])
    good, why = rows_match(data.get("rows"), expected)
    R.check(f"query_resource_data score<60 AND ((Occitanie AND poids>=25) OR annee=2020): the {len(expected)} expected rows",
            good and data.get("total") == len(expected) and len(expected) > 0, why or data.get("total"))

    # in / notin take a comma list (the tool's own description says so)
    for label, extra, keep in (
            ("official filter_operator=in", {"filter_column": "categorie", "filter_operator": "in", "filter_value": "gamma,delta"},
             lambda r: r["categorie"] in ("gamma", "delta")),
            ("filters in", {"filters": [{"column": "categorie", "operator": "in", "value": "gamma,delta"}]},
             lambda r: r["categorie"] in ("gamma", "delta")),
            ("filters notin", {"filters": [{"column": "categorie", "operator": "notin", "value": "gamma,delta"}]},
             lambda r: r["categorie"] not in ("gamma", "delta"))):
        args = {"resource_id": rid, "page_size": 50, "sort_column": "score", "sort_direction": "asc", **extra}
        result, data = await call_ok(session, f"query_resource_data {label} gamma,delta", "query_resource_data", args)
        expected = sorted((r for r in rows if keep(r)), key=lambda r: r["score"])
        good, why = rows_match(data.get("rows"), expected[:50])
        R.check(f"query_resource_data {label} 'gamma,delta': total {len(expected)} and rows as the formulas",
                good and data.get("total") == len(expected), f"total {data.get('total')}; {why}")


async def check_metrics(session: ClientSession, ctx: Context) -> None:
    dataset, resource = "d00000000000000000000001", "20000000-0000-4000-8000-000000000001"
    result, data = await call_ok(session, "get_metrics dataset+resource", "get_metrics",
                                 {"dataset_id": dataset, "resource_id": resource, "limit": 3})
    expected = [{"metric_month": month(m), "monthly_visit": ds_visit(1, m), "monthly_download_resource": ds_download(1, m)}
                for m in (35, 34, 33)]
    got = data.get("datasets")
    good = isinstance(got, list) and len(got) == 3 and all(
        all(same_value(g.get(k), v) for k, v in e.items()) for g, e in zip(got, expected))
    R.check("get_metrics dataset d…01 limit 3: months, visits, downloads equal the formulas", good, f"got {got} expected {expected}")
    direct = get_json(f"{ctx.metrics}/api/datasets/data/?{qs(dataset_id__exact=dataset, metric_month__sort='desc', page_size=3)}")
    R.check("get_metrics dataset: rows equal the Metrics API's", got == direct["data"], f"got {got} api {direct['data']}")
    expected = [{"metric_month": month(m), "monthly_download_resource": res_download(1, m)} for m in (35, 34, 33)]
    got = data.get("resources")
    good = isinstance(got, list) and len(got) == 3 and all(
        all(same_value(g.get(k), v) for k, v in e.items()) for g, e in zip(got, expected))
    R.check("get_metrics resource 2…01 limit 3: downloads equal the formulas (incl. NULL month)", good, f"got {got} expected {expected}")
    R.check("get_metrics: text is a table of the months", "2024-12" in text_of(result) and "354" in text_of(result), text_of(result)[:300])

    result, data = await call_ok(session, "get_model_metrics site", "get_model_metrics", {"model": "site", "limit": 4})
    expected = [site_row(m) for m in (35, 34, 33, 32)]
    got = data.get("months")
    good = isinstance(got, list) and len(got) == 4 and all(
        all(same_value(g.get(k), v) for k, v in e.items()) for g, e in zip(got, expected))
    R.check("get_model_metrics site limit 4: sums equal the formulas", good and data.get("model") == "site",
            f"got {got} expected {expected}")
    result, data = await call_ok(session, "get_model_metrics reuses", "get_model_metrics",
                                 {"model": "reuses", "id": "b00000000000000000000003", "limit": 6})
    expected = [{"metric_month": month(m), "monthly_visit": reuse_visit(3, m)} for m in range(35, 29, -1)]
    got = data.get("months")
    good = isinstance(got, list) and len(got) == 6 and all(
        all(same_value(g.get(k), v) for k, v in e.items()) for g, e in zip(got, expected))
    R.check("get_model_metrics reuses b…03 limit 6: visits equal the formulas", good, f"got {got} expected {expected}")


async def check_profile(session: ClientSession, ctx: Context) -> None:
    result, data = await call_ok(session, "get_resource_profile types", "get_resource_profile", {"resource_id": ctx.rid["TYPES"]})
    got = [(c.get("name"), c.get("type"), c.get("format")) for c in data.get("columns", [])]
    R.check("get_resource_profile types: columns (name, type, format) equal the fixture's, in order", got == TYPES_COLUMNS,
            f"got {got}")
    R.check("get_resource_profile types: 30 rows, no index, not aggregated",
            data.get("total_lines") == 30 and data.get("indexes") == [] and data.get("aggregation_allowed") is False,
            {k: data.get(k) for k in ("total_lines", "indexes", "aggregation_allowed")})
    exceptions = get_json(f"{ctx.tabular}/api/aggregation-exceptions/")
    result, data = await call_ok(session, "get_resource_profile indexed", "get_resource_profile", {"resource_id": ctx.rid["INDEXED"]})
    got = [c.get("name") for c in data.get("columns", [])]
    R.check("get_resource_profile indexed: columns, indexes, aggregation as the fixture and /aggregation-exceptions/",
            got == ["categorie", "score", "annee", "region", "poids"]
            and sorted(data.get("indexes") or []) == ["annee", "categorie", "score"]
            and data.get("total_lines") == 100
            and data.get("aggregation_allowed") is (ctx.rid["INDEXED"] in exceptions.get("exceptions", [])) is True,
            {k: data.get(k) for k in ("columns", "indexes", "total_lines", "aggregation_allowed")})


async def check_export(session: ClientSession, ctx: Context) -> None:
    rid = ctx.rid["INDEXED"]
    args = {"file": "exports/indexed_alpha.csv", "resource_id": rid, "filter_column": "categorie", "filter_value": "alpha",
            "sort_column": "score", "sort_direction": "desc"}
    result, data = await call_ok(session, "export_resource_data alpha csv", "export_resource_data", args)
    path = os.path.join(ctx.tmpdir, "exports", "indexed_alpha.csv")
    total = ctx.query_totals.get("alpha")
    if R.check("export_resource_data alpha: the CSV exists in the allowed directory", os.path.isfile(path), path):
        with open(path, newline="", encoding="utf-8") as handle:
            records = list(csv.DictReader(handle))
        R.check("export_resource_data alpha: CSV rows = query total = tool's count",
                len(records) == total == data.get("rows") == 20, f"csv {len(records)} query {total} tool {data.get('rows')}")
        expected = [str(r["score"]) for r in sorted((r for r in indexed_rows() if r["categorie"] == "alpha"), key=lambda r: -r["score"])]
        R.check("export_resource_data alpha: scores in the server's order (desc)",
                [rec.get("score") for rec in records] == expected, [rec.get("score") for rec in records])

    # more than one 50,000-row export window
    big = ctx.rid["BIG"]
    _, qdata = await call_ok(session, "query_resource_data big rang<60001 total", "query_resource_data",
                             {"resource_id": big, "page_size": 1, "filter_column": "rang", "filter_value": "60001",
                              "filter_operator": "strictly_less"})
    started = time.perf_counter()
    result, data = await call_ok(session, "export_resource_data big 60000 rows", "export_resource_data",
                                 {"file": "big.csv", "resource_id": big,
                                  "filters": [{"column": "rang", "operator": "strictly_less", "value": "60001"}]})
    elapsed = (time.perf_counter() - started) * 1000
    path = os.path.join(ctx.tmpdir, "big.csv")
    if R.check("export_resource_data big: the CSV exists", os.path.isfile(path), path):
        with open(path, newline="", encoding="utf-8") as handle:
            records = list(csv.DictReader(handle))
        rangs = sorted(int(rec["rang"]) for rec in records)
        R.check("export_resource_data big: CSV rows = query total = 60000, rang 1..60000 once each",
                len(records) == qdata.get("total") == data.get("rows") == 60000 and rangs == list(range(1, 60001)),
                f"csv {len(records)} query {qdata.get('total')} tool {data.get('rows')}")
        sample = records[0] if records else {}
        i = int(sample.get("rang", 0) or 0)
        R.check("export_resource_data big: a row's values follow the formulas",
                i > 0 and sample.get("libelle") == f"ligne {i}" and float(sample.get("montant")) == (i % 1000) * 0.5 + 0.25, sample)
    R.figure(f"export_60000_rows_ms={elapsed:.0f}")


async def check_dataservices(session: ClientSession, ctx: Context) -> None:
    ctx.spec_server = SpecServer()
    port = ctx.spec_server.port
    body = json.dumps({"title": f"Sonde MCP datagouv-rs {int(time.time())}",
                       "description": "Créé par tests/mcp/check_mcp.py, supprimé à la fin.",
                       "base_api_url": f"http://127.0.0.1:{port}/api",
                       "machine_documentation_url": f"http://127.0.0.1:{port}/openapi.json"}).encode()
    status, _, answer = http("POST", f"{ctx.udata}/dataservices/", body,
                             {"X-API-KEY": ctx.admin_key, "Content-Type": "application/json"})
    if not R.check("setup: dataservice created through udata", status == 201, f"HTTP {status}: {answer[:300]!r}"):
        return
    created = json.loads(answer)
    ctx.dataservice_id = created["id"]

    result, data = await call_ok(session, "search_dataservices p1/5", "search_dataservices", {"query": "", "page": 1, "page_size": 5})
    direct = get_json(f"{ctx.udata2}/dataservices/search/?{qs(page=1, page_size=5)}")
    ids = [d.get("id") for d in data.get("dataservices", [])]
    R.check("search_dataservices p1/5: total and ids equal v2 /dataservices/search/",
            data.get("total") == direct["total"] and ids == [d["id"] for d in direct["data"]] and ids,
            f"mcp {data.get('total')} {ids} v2 {direct['total']} {[d['id'] for d in direct['data']]}")
    size = max(1, direct["total"] // 2)  # page 2 exists (udata answers 404 past the last page)
    result, data = await call_ok(session, f"search_dataservices p2/{size}", "search_dataservices", {"query": "", "page": 2, "page_size": size})
    direct = get_json(f"{ctx.udata2}/dataservices/search/?{qs(page=2, page_size=size)}")
    ids = [d.get("id") for d in data.get("dataservices", [])]
    R.check(f"search_dataservices p2/{size}: ids and base URLs equal v2's",
            ids == [d["id"] for d in direct["data"]] and ids
            and [d.get("base_api_url") for d in data.get("dataservices", [])] == [d.get("base_api_url") for d in direct["data"]],
            f"mcp {ids} v2 {[d['id'] for d in direct['data']]}")

    direct = get_json(f"{ctx.udata}/dataservices/{ctx.dataservice_id}/")
    result, data = await call_ok(session, "get_dataservice_info", "get_dataservice_info", {"dataservice_id": ctx.dataservice_id})
    keys = ("id", "title", "base_api_url", "machine_documentation_url", "description")
    R.check("get_dataservice_info: id, title, URLs, description equal v1 /dataservices/{id}/",
            all(data.get(k) == direct.get(k) for k in keys) and direct["title"] == created["title"],
            f"mcp {[data.get(k) for k in keys]} v1 {[direct.get(k) for k in keys]}")
    R.check("get_dataservice_info: text names the spec URL",
            f"OpenAPI/Swagger spec: http://127.0.0.1:{port}/openapi.json" in text_of(result), text_of(result)[:300])

    hits = ctx.spec_server.hits
    result, data = await call_ok(session, "get_dataservice_openapi_spec", "get_dataservice_openapi_spec",
                                 {"dataservice_id": ctx.dataservice_id})
    expected = {(method.upper(), path) for path, item in ctx.spec_server.spec["paths"].items() for method in item if method != "parameters"}
    got = {(e.get("method"), e.get("path")) for e in data.get("endpoints", [])}
    R.check("get_dataservice_openapi_spec: endpoints equal the served document's (4, path-level parameters skipped)",
            got == expected and len(data.get("endpoints", [])) == 4, f"got {sorted(got)} expected {sorted(expected)}")
    R.check("get_dataservice_openapi_spec: info and source as served, fetched from the local server",
            data.get("info") == ctx.spec_server.spec["info"] and data.get("source") == f"http://127.0.0.1:{port}/openapi.json"
            and ctx.spec_server.hits == hits + 1, f"info {data.get('info')} source {data.get('source')} hits {ctx.spec_server.hits - hits}")
    text = text_of(result)
    R.check("get_dataservice_openapi_spec: text lists endpoints and the required parameter",
            "GET /communes Liste des communes" in text and "DELETE /communes/{code}" in text and "- code [query] (required)" in text
            and "API: Sonde datagouv-rs (version 1.2.3)" in text, text[:500])


def create_dataservice(ctx: Context, route: str) -> str | None:
    """A dataservice whose OpenAPI document is the spec server's `route`; deleted at the end."""
    port = ctx.spec_server.port
    body = json.dumps({"title": f"Sonde MCP {route} {int(time.time())}",
                       "description": "Créé par tests/mcp/check_mcp.py, supprimé à la fin.",
                       "base_api_url": f"http://127.0.0.1:{port}/api",
                       "machine_documentation_url": f"http://127.0.0.1:{port}{route}"}).encode()
    status, _, answer = http("POST", f"{ctx.udata}/dataservices/", body,
                             {"X-API-KEY": ctx.admin_key, "Content-Type": "application/json"})
    if not R.check(f"setup: dataservice on {route} created through udata", status == 201, f"HTTP {status}: {answer[:300]!r}"):
        return None
    ctx.extra_dataservices[route] = json.loads(answer)["id"]
    return ctx.extra_dataservices[route]


async def check_guarded_fetches(session: ClientSession, ctx: Context) -> None:
    """The OpenAPI documents are fetched by the guarded client: a loopback host refused (and reached by
    nothing) without --allow-private-urls, a 50 MB document stopped at the cap, RSS unchanged."""
    if not ctx.dataservice_id or not ctx.spec_server:
        R.check("guard: the dataservice of the dataservices group exists", False)
        return
    # this session's server has --allow-private-urls: the same document is served (checked above);
    # a server without it refuses, and the loopback host receives nothing
    hits = ctx.spec_server.hits
    with open(os.path.join(ctx.home, "guard-stderr.log"), "w") as errlog:
        params = StdioServerParameters(command=ctx.binary, args=["mcp"], env=server_env(ctx.env, ctx.home))
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as guarded:
                await guarded.initialize()
                result = await call(guarded, "get_dataservice_openapi_spec", {"dataservice_id": ctx.dataservice_id})
    text = text_of(result)
    R.check("guard: without --allow-private-urls a loopback document URL is a tool error naming the address and the flag",
            is_error_result(result) and "loopback address (127.0.0.1)" in text and "--allow-private-urls" in text, text[:400])
    R.check("guard: the loopback host received nothing", ctx.spec_server.hits == hits, f"{ctx.spec_server.hits - hits} request(s)")

    big = create_dataservice(ctx, "/big.json")
    if big:
        hwm_before = proc_status_kb(ctx.pid, "VmHWM") if ctx.pid else None
        rss_before = proc_status_kb(ctx.pid, "VmRSS") if ctx.pid else None
        result = await call(session, "get_dataservice_openapi_spec", {"dataservice_id": big})
        text = text_of(result)
        R.check("guard: a 50 MB document is stopped at the cap with a clear tool error",
                is_error_result(result) and "larger than the 4.0 MB limit" in text and "/big.json" in text, text[:400])
        await asyncio.sleep(0.5)
        sent = ctx.spec_server.big_sent
        R.check("guard: the transfer stopped near the cap (the host could not send the 50 MB)",
                sent < 20 * 1024 * 1024, f"{sent} bytes sent")
        R.figure(f"big_document_bytes_sent_before_stop={sent}")
        if ctx.pid:
            hwm_after = proc_status_kb(ctx.pid, "VmHWM")
            rss_after = proc_status_kb(ctx.pid, "VmRSS")
            grew = (hwm_after - hwm_before) / 1024
            R.check("guard: the server's peak RSS grew less than 8 MB over the 50 MB document", grew < 8,
                    f"VmHWM {hwm_before} -> {hwm_after} kB")
            R.figure(f"big_document_rss_mb before={rss_before / 1024:.1f} after={rss_after / 1024:.1f} "
                     f"peak_growth_mb={grew:.1f}")
        await expect_alive(session, ctx, "a 50 MB document")


async def check_reuses_topics(session: ClientSession, ctx: Context) -> None:
    for label, params in (("p1/5 -views", {"sort": "-views"}), ("type=application", {"type": "application"})):
        result, data = await call_ok(session, f"search_reuses {label}", "search_reuses",
                                     {"query": "", "page": 1, "page_size": 5, **params})
        direct = get_json(f"{ctx.udata2}/reuses/search/?{qs(page=1, page_size=5, **params)}")
        ids = [r.get("id") for r in data.get("reuses", [])]
        R.check(f"search_reuses {label}: total and ids equal v2 /reuses/search/",
                data.get("total") == direct["total"] > 0 and ids == [r["id"] for r in direct["data"]],
                f"mcp {data.get('total')} {ids} v2 {direct['total']} {[r['id'] for r in direct['data']]}")
    R.check("search_reuses: the results are delimited as catalog data",
            "<catalog-data>" in text_of(result) and text_of(result).index("<catalog-data>") < text_of(result).index("1. "),
            text_of(result)[:300])
    listing = get_json(f"{ctx.udata}/reuses/?{qs(page_size=50)}")
    used = next((r for r in listing["data"] if r.get("datasets")), listing["data"][0])
    direct = get_json(f"{ctx.udata}/reuses/{used['id']}/")
    result, data = await call_ok(session, "get_reuse_info", "get_reuse_info", {"reuse_id": used["slug"]})
    R.check("get_reuse_info by slug: id, title, type, url equal v1 /reuses/{id}/",
            [data.get(k) for k in ("id", "title", "type", "url")] == [direct.get(k) for k in ("id", "title", "type", "url")],
            f"mcp {[data.get(k) for k in ('id', 'title', 'type', 'url')]}")
    R.check("get_reuse_info: the datasets it uses, ids and titles as v1's",
            [(d.get("id"), d.get("title")) for d in data.get("datasets", [])]
            == [(d["id"], d["title"]) for d in direct["datasets"]] and direct["datasets"],
            data.get("datasets"))
    text = text_of(result)
    inside = text.split("<catalog-data>")[1].split("</catalog-data>")[0] if "<catalog-data>" in text else ""
    R.check("get_reuse_info: title and datasets inside the catalog-data block",
            direct["title"] in inside and all(d["id"] in inside for d in direct["datasets"]), text[:400])

    result, data = await call_ok(session, "search_topics", "search_topics", {"query": "", "page_size": 10})
    direct = get_json(f"{ctx.udata2}/topics/search/?{qs(page=1, page_size=10)}")
    ids = [t.get("id") for t in data.get("topics", [])]
    R.check("search_topics: total and ids equal v2 /topics/search/",
            data.get("total") == direct["total"] > 0 and ids == [t["id"] for t in direct["data"]],
            f"mcp {data.get('total')} {ids} v2 {direct['total']}")
    topic = ctx.env.get("DATAGOUV_TEST_TOPIC_ID")
    if not R.check("setup: DATAGOUV_TEST_TOPIC_ID is set", bool(topic)):
        return
    direct = get_json(f"{ctx.udata2}/topics/{topic}/")
    elements = get_json(f"{ctx.udata2}/topics/{topic}/elements/?{qs(page=1, page_size=20)}")
    result, data = await call_ok(session, "get_topic_info", "get_topic_info", {"topic_id": direct["slug"]})
    R.check("get_topic_info by slug: id, name, description equal v2 /topics/{id}/",
            [data.get(k) for k in ("id", "name", "description")] == [direct.get(k) for k in ("id", "name", "description")],
            [data.get(k) for k in ("id", "name")])
    got = [(e.get("class"), e.get("id")) for e in data.get("elements", [])]
    R.check("get_topic_info: its elements (class, id) equal v2 /topics/{id}/elements/",
            got == [(e["element"]["class"], e["element"]["id"]) for e in elements["data"]] and data.get("total") == elements["total"] >= 2,
            f"mcp {got} v2 {elements['data']}")
    result, data = await call_ok(session, "get_topic_info element_kind=datasets", "get_topic_info",
                                 {"topic_id": topic, "element_kind": "datasets"})
    direct = get_json(f"{ctx.udata2}/topics/{topic}/elements/?{qs(page=1, page_size=20, **{'class': 'Dataset'})}")
    got = [(e.get("class"), e.get("id")) for e in data.get("elements", [])]
    R.check("get_topic_info element_kind=datasets: only the Dataset elements, as v2 ?class=Dataset",
            got == [(e["element"]["class"], e["element"]["id"]) for e in direct["data"]] and got and all(c == "Dataset" for c, _ in got),
            f"mcp {got}")


class RecordingProxy:
    """Forwards GETs to udata and records each path and query: what the MCP server sends."""

    def __init__(self, target: str) -> None:
        outer = self
        self.seen: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.seen.append(self.path)
                status, headers, body = http("GET", target + self.path)
                self.send_response(status)
                self.send_header("Content-Type", headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def queries(self, endpoint: str) -> list[dict]:
        found = []
        for path in self.seen:
            parsed = urllib.parse.urlsplit(path)
            if parsed.path == endpoint:
                found.append(dict(urllib.parse.parse_qsl(parsed.query)))
        return found

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def psql_rows(ctx: Context, sql: str) -> list[list[str]]:
    """PostgreSQL's own answer on the server's tables, cells as text (NULL as None)."""
    psql = "/usr/lib/postgresql/15/bin/psql" if os.path.exists("/usr/lib/postgresql/15/bin/psql") else "psql"
    out = subprocess.run([psql, "-X", "-q", "-At", "-F", "\x1f", "-P", "null=\x1e", ctx.env["DATAGOUV_TEST_PG_URI"],
                          "-c", sql], check=True, capture_output=True, text=True).stdout
    return [[None if c == "\x1e" else c for c in line.split("\x1f")] for line in out.splitlines()]


async def check_sql(session: ClientSession, ctx: Context) -> None:
    rid = ctx.rid["NOT_AGGREGATED"]
    sql = (f'SELECT categorie, COUNT(*) AS n, SUM(score) AS total, AVG(poids) AS moyenne, MIN(score) AS bas, '
           f'MAX(annee) AS haut FROM "{rid}" GROUP BY categorie ORDER BY categorie')
    result, data = await call_ok(session, "query_sql GROUP BY", "query_sql", {"sql": sql})
    expected = psql_rows(ctx, sql.replace(f'"{rid}"', 'public."60bafd9ec72ef39986c213782b977302"'))
    got = [[str(r["categorie"]), str(r["n"]), str(r["total"]), r["moyenne"], str(r["bas"]), str(r["haut"])]
           for r in data.get("rows", [])]
    same = len(got) == len(expected) == 5 and all(
        g[:3] == e[:3] and abs(float(g[3]) - float(e[3])) < 1e-9 and g[4:] == e[4:] for g, e in zip(got, expected))
    R.check("query_sql: GROUP BY on a resource the server will not aggregate equals PostgreSQL's", same,
            f"mcp {got} psql {expected}")
    result, data = await call_ok(session, "query_sql row cap", "query_sql",
                                 {"sql": f'SELECT "__id" FROM "{ctx.rid["BIG"]}" WHERE rang <= 40', "max_rows": 25})
    text = text_of(result)
    R.check("query_sql: at most max_rows rows, and a note saying how to get the rest",
            len(data.get("rows", [])) == 25 and data.get("truncated") is True and "export_resource_data" in text,
            text[:300])
    for label, refused in [
        ("CREATE TABLE", "CREATE TABLE t AS SELECT 1"),
        ("INSERT", f'INSERT INTO "{rid}" VALUES (1)'),
        ("COPY TO", "COPY (SELECT 1) TO '/tmp/datagouv-mcp-copy.csv'"),
        ("CREATE EXTERNAL TABLE", "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'"),
        ("a local file", "SELECT * FROM '/etc/passwd'"),
        ("a path as a table", 'SELECT * FROM "../../etc/passwd"'),
    ]:
        result = await call(session, "query_sql", {"sql": refused})
        R.check(f"query_sql: {label} refused with a clear error", is_error_result(result), text_of(result)[:200])
    R.check("query_sql: COPY wrote nothing", not os.path.exists("/tmp/datagouv-mcp-copy.csv"))


async def check_stop_words(session: ClientSession, ctx: Context) -> None:
    """Generic words are left out of the query udata receives, as the official server does."""
    proxy = RecordingProxy(ctx.env["DATAGOUV_TEST_UDATA_BASE_URL"].rstrip("/"))
    env = {**server_env(ctx.env, ctx.home), "DATAGOUV_MAIN_URL": proxy.url}
    try:
        with open(os.path.join(ctx.home, "stopwords-stderr.log"), "w") as errlog:
            params = StdioServerParameters(command=ctx.binary, args=["mcp"], env=env)
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write) as proxied:
                    await proxied.initialize()
                    result = await call(proxied, "search_datasets", {"query": "Données CSV", "page_size": 5})
                    sent = proxy.queries("/api/2/datasets/search/")
                    direct = get_json(f"{ctx.udata2}/datasets/search/?{qs(page=1, page_size=5)}")
                    R.check("stop words: search_datasets 'Données CSV' reaches udata with no q, and lists as an empty query",
                            sent and "q" not in sent[-1] and not result.isError
                            and result.structuredContent.get("total") == direct["total"], f"sent {sent}; {text_of(result)[:200]}")
                    for tool, endpoint, words, expected in (
                            ("search_reuses", "/api/2/reuses/search/", "données transport fichier", "transport"),
                            ("search_dataservices", "/api/2/dataservices/search/", "API json données adresse", "API adresse"),
                            ("search_topics", "/api/2/topics/search/", "Tableaux qualité de l'air", "qualité de l'air")):
                        before = len(proxy.queries(endpoint))
                        await call(proxied, tool, {"query": words})
                        sent = proxy.queries(endpoint)[before:]
                        # (the stack's udata cannot run word searches: the answer may be an error; the query is the point)
                        R.check(f"stop words: {tool} '{words}' reaches udata as q='{expected}'",
                                bool(sent) and sent[0].get("q") == expected, f"sent {sent}")
    finally:
        proxy.close()


async def expect_alive(session: ClientSession, ctx: Context, after: str) -> None:
    result = await call(session, "get_dataset_info", {"dataset_id": ctx.catalog})
    good, why = well_formed(result)
    R.check(f"after {after}: the server still answers", good and result.structuredContent.get("id") == ctx.catalog, why)


async def check_errors(session: ClientSession, ctx: Context) -> None:
    # unknown tool: a JSON-RPC error or an isError result, not a dead server
    try:
        result = await call(session, "no_such_tool", {"x": 1})
        R.check("error: unknown tool is refused", bool(result.isError), f"answered {text_of(result)[:200]!r}")
    except McpError as err:
        R.check("error: unknown tool is refused (JSON-RPC error)", True)
        R.check("error: unknown tool's message names it", "no_such_tool" in str(err.error.message) or err.error.code in (-32601, -32602),
                f"{err.error.code} {err.error.message}")
    await expect_alive(session, ctx, "an unknown tool")

    for label, name, args in (("page='abc'", "query_resource_data", {"resource_id": ctx.rid["INDEXED"], "page": "abc"}),
                              ("page_size=[1]", "search_datasets", {"query": "", "page_size": [1]}),
                              ("missing dataset_id", "get_dataset_info", {})):
        try:
            result = await call(session, name, args)
            R.check(f"error: {name} {label} is refused", is_error_result(result) or bool(result.isError),
                    f"answered isError={result.isError} {text_of(result)[:200]!r}")
        except McpError as err:
            R.check(f"error: {name} {label} is refused (JSON-RPC {err.error.code})", err.error.code in (-32602, -32600, -32603),
                    f"{err.error.code} {err.error.message}")
        await expect_alive(session, ctx, label)

    result = await call(session, "query_resource_data", {"resource_id": ctx.rid["DELETED"]})
    status, _, body = http("GET", f"{ctx.tabular}/api/resources/{ctx.rid['DELETED']}/data/")
    R.check("error: 410 resource (RID_DELETED) → isError 'Error: …'", status == 410 and is_error_result(result),
            f"tabular HTTP {status}; tool isError={result.isError} {text_of(result)[:300]!r}")
    R.check("error: 410 message says the resource is gone/deleted",
            any(w in text_of(result).lower() for w in ("410", "deleted", "gone")), text_of(result)[:300])
    await expect_alive(session, ctx, "a 410")

    result = await call(session, "query_resource_data",
                        {"resource_id": ctx.rid["NOT_AGGREGATED"], "group_by": ["categorie"],
                         "aggregates": [{"column": "score", "function": "avg"}]})
    R.check("error: group_by on RID_NOT_AGGREGATED → isError mentioning aggregation",
            is_error_result(result) and "aggregat" in text_of(result).lower(), f"isError={result.isError} {text_of(result)[:300]!r}")
    await expect_alive(session, ctx, "a 403 aggregation")

    outside = os.path.join(os.path.dirname(ctx.tmpdir), "escape-check-mcp.csv")
    existed = os.path.exists(outside)
    for bad in ("../escape-check-mcp.csv", "sub/../../escape-check-mcp.csv", outside):
        result = await call(session, "export_resource_data", {"file": bad, "resource_id": ctx.rid["INDEXED"]})
        R.check(f"error: export to {bad!r} → isError", is_error_result(result), f"isError={result.isError} {text_of(result)[:200]!r}")
    R.check("error: nothing written outside the allowed directory", existed or not os.path.exists(outside), outside)
    await expect_alive(session, ctx, "a path with '..'")


def jsonrpc_error_in(status: int, headers: dict, body: bytes) -> bool:
    """An HTTP 4xx, or a JSON-RPC error object (as JSON or an SSE data line)."""
    if 400 <= status < 500:
        return True
    text = body.decode("utf-8", "replace")
    candidates = [text]
    candidates += [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
    for candidate in candidates:
        try:
            message = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(message, dict) and isinstance(message.get("error"), dict) and "code" in message["error"]:
            return True
    return False


async def check_http_only(session: ClientSession, ctx: Context, url: str, session_id: str | None, protocol: str, pid: int,
                          rss_idle: int | None) -> None:
    base_headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                    "MCP-Protocol-Version": protocol}
    if session_id:
        base_headers["Mcp-Session-Id"] = session_id
    # control: the same headers with a well-formed request are accepted, so a refusal below is the body's doing
    good_body = json.dumps({"jsonrpc": "2.0", "id": 98, "method": "tools/list"}).encode()
    status, headers, answer = await asyncio.to_thread(http, "POST", url, good_body, base_headers, 15)
    R.check("http: raw well-formed tools/list with the session's headers is answered (control)",
            status == 200 and b'"search_datasets"' in answer and not jsonrpc_error_in(status, headers, answer),
            f"HTTP {status} {answer[:300]!r}")
    for label, body in (("truncated JSON", b'{"jsonrpc": "2.0", "id": 99, "method": "tools/list", '),
                        ("not JSON-RPC", b'{"hello": "world"}'),
                        ("not JSON", b"\x00\xffnot json at all")):
        status, headers, answer = await asyncio.to_thread(http, "POST", url, body, base_headers, 15)
        R.check(f"http: malformed body ({label}) → 4xx or JSON-RPC error (HTTP {status})", jsonrpc_error_in(status, headers, answer),
                f"HTTP {status} {answer[:300]!r}")
        await expect_alive(session, ctx, f"a malformed body ({label})")

    # 50 concurrent calls over one session, compared with urllib answers
    listing = get_json(f"{ctx.udata}/datasets/?page_size=50")
    ids = [d["id"] for d in listing["data"]]
    truth = {i: get_json(f"{ctx.udata}/datasets/{i}/") for i in ids}
    targets = [ids[n % len(ids)] for n in range(50)]
    started = time.perf_counter()
    results = await asyncio.gather(*(call(session, "get_dataset_info", {"dataset_id": t}) for t in targets),
                                   return_exceptions=True)
    elapsed = (time.perf_counter() - started) * 1000
    wrong = []
    for target, result in zip(targets, results):
        if isinstance(result, BaseException):
            wrong.append((target, repr(result)[:120]))
            continue
        good, why = well_formed(result)
        data = result.structuredContent if good else {}
        if not good or data.get("id") != target or data.get("title") != truth[target]["title"] \
                or data.get("resources_count") != len(truth[target]["resources"]):
            wrong.append((target, why or (data.get("id"), data.get("title"))))
    R.check(f"http: 50 concurrent get_dataset_info over {len(set(targets))} datasets all equal urllib's answers",
            not wrong and len(results) == 50, wrong[:3])
    hwm = proc_status_kb(pid, "VmHWM")
    R.figure(f"concurrent_50_ms={elapsed:.0f}")
    R.figure(f"idle_rss_mb={rss_idle / 1024:.1f}" if rss_idle else "idle_rss_mb=unknown")
    R.figure(f"peak_rss_mb={hwm / 1024:.1f}" if hwm else "peak_rss_mb=unknown")
    await expect_alive(session, ctx, "50 concurrent calls")
    await check_disconnect(session, ctx, url, protocol)


async def check_disconnect(session: ClientSession, ctx: Context, url: str, protocol: str) -> None:
    """A client that disconnects during a call frees what the call held: here the call is fetching a
    document that trickles in, and the document's host sees its connection closed."""
    slow = create_dataservice(ctx, "/slow.json")
    if not slow:
        return
    parsed = urllib.parse.urlsplit(url)
    body = json.dumps({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
                       "params": {"name": "get_dataservice_openapi_spec", "arguments": {"dataservice_id": slow}}}).encode()
    head = (f"POST {parsed.path} HTTP/1.1\r\nHost: {parsed.netloc}\r\nContent-Type: application/json\r\n"
            f"Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: {protocol}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    client = socket.create_connection((parsed.hostname, parsed.port), timeout=10)
    client.sendall(head + body)
    opened = await asyncio.to_thread(ctx.spec_server.slow_opened.wait, 20)
    if not R.check("disconnect: the call is fetching the trickling document", opened):
        client.close()
        return
    await asyncio.sleep(0.5)
    R.check("disconnect: the trickling fetch is still open before the client leaves", not ctx.spec_server.slow_closed.is_set())
    left = time.perf_counter()
    client.close()
    closed = await asyncio.to_thread(ctx.spec_server.slow_closed.wait, 10)
    R.check("disconnect: the client leaving mid-call closes the call's fetch (within 10 s, its timeout is 15 s)", closed)
    if closed:
        R.figure(f"disconnect_to_fetch_closed_ms={(time.perf_counter() - left) * 1000:.0f}")
    await expect_alive(session, ctx, "a client that left mid-call")


def proc_status_kb(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


async def check_overhead(session: ClientSession, ctx: Context) -> None:
    url = f"{ctx.udata}/datasets/{ctx.catalog}/"
    expected = get_json(url)["title"]
    mcp_times, direct_times, wrong = [], [], 0
    for _ in range(20):
        started = time.perf_counter()
        result = await call(session, "get_dataset_info", {"dataset_id": ctx.catalog})
        mcp_times.append((time.perf_counter() - started) * 1000)
        if result.isError or (result.structuredContent or {}).get("title") != expected:
            wrong += 1
    for _ in range(20):
        started = time.perf_counter()
        status, _, body = await asyncio.to_thread(http, "GET", url)
        direct_times.append((time.perf_counter() - started) * 1000)
        if status != 200:
            wrong += 1
    R.check("overhead: 20 MCP calls and 20 direct GETs all correct", wrong == 0, f"{wrong} wrong")
    R.figure(f"tool_call_median_ms={statistics.median(mcp_times):.1f} direct_http_median_ms={statistics.median(direct_times):.1f}")


async def run_checks(session: ClientSession, ctx: Context, init, started: float, initialized: float, http_extra=None) -> None:
    R.figure(f"initialize_ms={(initialized - started) * 1000:.0f}")
    R.check("initialize: server datagouv-rs with tools",
            init.serverInfo.name == "datagouv-rs" and init.capabilities.tools is not None,
            f"{init.serverInfo} {init.capabilities}")
    await R.group("list_tools", check_tools, session, ctx)
    await R.group("search_datasets", check_search_datasets, session, ctx)
    await R.group("search_organizations", check_search_organizations, session, ctx)
    await R.group("dataset tools", check_dataset_tools, session, ctx)
    await R.group("query_resource_data", check_query_official, session, ctx)
    await R.group("query extensions", check_query_extensions, session, ctx)
    await R.group("metrics", check_metrics, session, ctx)
    await R.group("get_resource_profile", check_profile, session, ctx)
    await R.group("export_resource_data", check_export, session, ctx)
    await R.group("dataservices", check_dataservices, session, ctx)
    await R.group("guarded fetches", check_guarded_fetches, session, ctx)
    await R.group("reuses and topics", check_reuses_topics, session, ctx)
    await R.group("query_sql", check_sql, session, ctx)
    await R.group("stop words", check_stop_words, session, ctx)
    await R.group("errors", check_errors, session, ctx)
    if http_extra is not None:
        await R.group("http", check_http_only, session, ctx, *http_extra)
    await R.group("overhead", check_overhead, session, ctx)
    listed = {tool.name for tool in (await session.list_tools()).tools}
    R.check(f"every listed tool ({len(listed)}) answered a success at least once", listed <= CALLED and len(listed) >= 17,
            f"never: {sorted(listed - CALLED)}")


def server_env(env: dict, home: str) -> dict:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "XDG_CONFIG_HOME": os.path.join(home, ".config"),
        "DATAGOUV_MAIN_URL": env["DATAGOUV_TEST_UDATA_BASE_URL"],
        "DATAGOUV_TABULAR_URL": env["DATAGOUV_TEST_TABULAR_URL"],
        "DATAGOUV_METRICS_URL": env["DATAGOUV_TEST_METRICS_URL"],
    }


async def run_stdio(binary: str, ctx: Context, home: str, errlog) -> None:
    ctx.binary, ctx.home = binary, home
    # --allow-private-urls: the dataservices' documents are served on this machine
    params = StdioServerParameters(command=binary, args=["mcp", "--allow-files", ctx.tmpdir, "--allow-private-urls"],
                                   env=server_env(ctx.env, home))
    started = time.perf_counter()
    async with stdio_client(params, errlog=errlog) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            await run_checks(session, ctx, init, started, time.perf_counter())


async def run_http(binary: str, ctx: Context, home: str, errlog_path: str) -> None:
    started = time.perf_counter()
    ctx.binary, ctx.home = binary, home
    process = subprocess.Popen([binary, "mcp", "--http", "127.0.0.1:0", "--allow-files", ctx.tmpdir, "--allow-private-urls"],
                               env=server_env(ctx.env, home), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    ctx.pid = process.pid
    found: dict = {}
    ready = threading.Event()

    def drain() -> None:
        with open(errlog_path, "w") as log:
            for line in process.stderr:
                log.write(line)
                log.flush()
                prefix = "datagouv mcp: serving "
                if line.startswith(prefix) and "url" not in found:
                    found["url"] = line[len(prefix):].strip()
                    ready.set()
        ready.set()

    threading.Thread(target=drain, daemon=True).start()
    try:
        await asyncio.to_thread(ready.wait, 30)
        url = found.get("url")
        if not R.check("http: the server prints its URL on stderr", bool(url) and url.endswith("/mcp"),
                       f"exit code {process.poll()}, stderr in {errlog_path}"):
            return
        session_id = None
        async with streamablehttp_client(url) as (read, write, get_session_id):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                initialized = time.perf_counter()
                await asyncio.sleep(0.3)
                rss_idle = proc_status_kb(process.pid, "VmRSS")  # idle: initialized, no tool called yet
                session_id = get_session_id()
                R.check("http: stateless by default (no Mcp-Session-Id to lose on a restart)", session_id is None, session_id)
                await run_checks(session, ctx, init, started, initialized,
                                 http_extra=(url, session_id, str(init.protocolVersion), process.pid, rss_idle))
        # the client sent DELETE on leaving: the session id must now be refused (404, MCP spec)
        if session_id:
            body = json.dumps({"jsonrpc": "2.0", "id": 7, "method": "tools/list"}).encode()
            status, _, answer = await asyncio.to_thread(http, "POST", url, body, {
                "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                "Mcp-Session-Id": session_id, "MCP-Protocol-Version": str(init.protocolVersion)}, 15)
            R.check("http: a terminated session id is refused with 404", status == 404, f"HTTP {status} {answer[:200]!r}")
        R.check("http: the server process is still running at the end", process.poll() is None, f"exit code {process.poll()}")
    finally:
        if process.poll() is None:
            process.send_signal(2)  # SIGINT: the server's graceful shutdown
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def cleanup_dataservice(ctx: Context) -> None:
    for extra in ctx.extra_dataservices.values():
        http("DELETE", f"{ctx.udata}/dataservices/{extra}/", headers={"X-API-KEY": ctx.admin_key})
    if ctx.dataservice_id:
        status, _, body = http("DELETE", f"{ctx.udata}/dataservices/{ctx.dataservice_id}/", headers={"X-API-KEY": ctx.admin_key})
        after, _, _ = http("GET", f"{ctx.udata}/dataservices/{ctx.dataservice_id}/")
        R.check("cleanup: the dataservice is deleted", status in (200, 204) and after in (404, 410), f"DELETE {status} then GET {after}")
    if ctx.spec_server:
        ctx.spec_server.close()


# ---------------------------------------------------------------------------
# the writes phase: a second server, with --allow-writes and the user's key

WRITE_ANNOTATIONS = {  # tool: (readOnlyHint, destructiveHint)
    "create_dataset": (False, False),
    "update_dataset": (False, True),
    "upload_resource": (False, False),
}


class Recorder:
    """Every text and structured content a server returned, to look for the key in."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def result(self, result):
        self.items.append(text_of(result))
        if result.structuredContent is not None:
            self.items.append(json.dumps(result.structuredContent, ensure_ascii=False))
        return result

    def error(self, err: McpError) -> None:
        self.items.append(f"{err.error.code} {err.error.message} {json.dumps(err.error.data, ensure_ascii=False, default=str)}")

    def add(self, text: str) -> None:
        self.items.append(text)


class WriteContext:
    def __init__(self, env: dict, tmpdir: str, transport: str) -> None:
        self.udata = env["DATAGOUV_TEST_UDATA_URL"].rstrip("/")
        self.key = env["DATAGOUV_TEST_USER_KEY"]
        self.org = env["DATAGOUV_TEST_USER_ORG_ID"]
        self.catalog = env["DATAGOUV_TEST_CATALOG_DATASET_ID"]
        self.rid_indexed = env["DATAGOUV_TEST_RID_INDEXED"]
        self.tmpdir = tmpdir
        self.transport = transport
        self.dataset_id: str | None = None
        self.deleted = False
        self.seen = Recorder()

    def auth(self) -> dict:
        return {"X-API-KEY": self.key}

    def get_dataset(self, dataset_id: str):
        """(status, JSON or None) of v1 /datasets/{id}/ read with the user's key."""
        status, _, body = http("GET", f"{self.udata}/datasets/{dataset_id}/", headers=self.auth())
        try:
            return status, json.loads(body) if status == 200 else None
        except ValueError:
            return status, None


@contextlib.asynccontextmanager
async def served_session(binary: str, args: list[str], env: dict, transport: str, errlog_path: str):
    """A server process on stdio or HTTP (stderr written to errlog_path), and an initialized session over it."""
    if transport == "stdio":
        with open(errlog_path, "w") as errlog:
            params = StdioServerParameters(command=binary, args=["mcp", *args], env=env)
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write) as session:
                    init = await session.initialize()
                    yield session, init
        return
    process = subprocess.Popen([binary, "mcp", "--http", "127.0.0.1:0", *args], env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    found: dict = {}
    ready = threading.Event()

    def drain() -> None:
        with open(errlog_path, "w") as log:
            for line in process.stderr:
                log.write(line)
                log.flush()
                prefix = "datagouv mcp: serving "
                if line.startswith(prefix) and "url" not in found:
                    found["url"] = line[len(prefix):].strip()
                    ready.set()
        ready.set()

    drainer = threading.Thread(target=drain, daemon=True)
    drainer.start()
    try:
        await asyncio.to_thread(ready.wait, 30)
        url = found.get("url")
        if not url:
            raise RuntimeError(f"the HTTP server printed no URL (exit code {process.poll()}, stderr in {errlog_path})")
        async with streamablehttp_client(url) as (read, write, _):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                yield session, init
    finally:
        if process.poll() is None:
            process.send_signal(2)  # SIGINT: the server's graceful shutdown
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        drainer.join(5)


async def check_write_tools_listed(session: ClientSession, w: WriteContext) -> None:
    listed = await session.list_tools()
    w.seen.add(json.dumps([tool.model_dump(mode="json") for tool in listed.tools], ensure_ascii=False))
    tools = {tool.name: tool for tool in listed.tools}
    for name, (read_only, destructive) in WRITE_ANNOTATIONS.items():
        tool = tools.get(name)
        if not R.check(f"writes list_tools: {name} present with --allow-writes and a key", tool is not None, f"tools: {sorted(tools)}"):
            continue
        notes = tool.annotations
        R.check(f"writes list_tools: {name} readOnlyHint={str(read_only).lower()} destructiveHint={str(destructive).lower()}",
                notes is not None and notes.readOnlyHint is read_only and notes.destructiveHint is destructive, notes)
    params = {"create_dataset": ["title", "description", "organization", "tags"],
              "update_dataset": ["dataset_id", "changes"], "upload_resource": ["dataset_id", "file"]}
    for name, wanted in params.items():
        if name in tools:
            props = set((tools[name].inputSchema or {}).get("properties", {}))
            R.check(f"writes list_tools: {name} has {', '.join(wanted)}", all(p in props for p in wanted), sorted(props))
    absent = [n for n in list(OFFICIAL) + list(EXTRA) if n not in tools]
    R.check("writes list_tools: the read tools and export_resource_data are still offered", not absent, f"missing {absent}")


async def check_writes(session: ClientSession, w: WriteContext) -> None:
    stamp = f"{int(time.time())}-{os.getpid()}-{w.transport}"
    title = f"Sonde MCP écritures {stamp}"
    description = "Créé par tests/mcp/check_mcp.py (phase d'écriture), supprimé à la fin."
    tags = ["sonde-mcp", "datagouv-rs"]
    result = w.seen.result(await call(session, "create_dataset",
                                      {"title": title, "description": description, "tags": tags, "organization": w.org}))
    good, why = well_formed(result)
    R.check("create_dataset: well-formed answer", good, why)
    data = result.structuredContent if good else {}
    w.dataset_id = data.get("id")
    if not R.check("create_dataset: answer carries the new id and title", bool(w.dataset_id) and data.get("title") == title,
                   f"{data!r} {text_of(result)[:300]!r}"):
        return
    status, direct = w.get_dataset(w.dataset_id)
    if not R.check("create_dataset: GET /datasets/{id}/ with the user's key finds it", status == 200 and direct,
                   f"HTTP {status}"):
        return
    R.check("create_dataset: title, description, tags and organization as sent",
            (direct.get("title"), direct.get("description"), sorted(direct.get("tags") or []),
             (direct.get("organization") or {}).get("id")) == (title, description, sorted(tags), w.org),
            f"{(direct.get('title'), direct.get('description'), direct.get('tags'), (direct.get('organization') or {}).get('id'))}")
    R.check("create_dataset: the dataset is private", direct.get("private") is True, f"private={direct.get('private')!r}")
    anonymous, _, _ = http("GET", f"{w.udata}/datasets/{w.dataset_id}/")
    R.check(f"create_dataset: not visible without a key (HTTP {anonymous})", anonymous in (401, 403, 404), f"HTTP {anonymous}")
    R.check("create_dataset: no resource yet", direct.get("resources") == [], direct.get("resources"))

    new_description = f"Description changée par update_dataset ({stamp}) — ça marche."
    result = w.seen.result(await call(session, "update_dataset",
                                      {"dataset_id": w.dataset_id, "changes": {"description": new_description}}))
    good, why = well_formed(result)
    R.check("update_dataset: well-formed answer", good, why)
    data = result.structuredContent if good else {}
    R.check("update_dataset: answer names the dataset and the field", data.get("id") == w.dataset_id and data.get("updated") == ["description"],
            data)
    status, direct = w.get_dataset(w.dataset_id)
    R.check("update_dataset: GET shows the new description, same title, still private",
            status == 200 and direct and direct.get("description") == new_description and direct.get("title") == title
            and direct.get("private") is True,
            f"HTTP {status} {(direct or {}).get('description')!r} {(direct or {}).get('title')!r} private={(direct or {}).get('private')!r}")

    content = "code,libellé,valeur\n" + "".join(f"{i:03d},ligne {i} é,{i * 1.5}\n" for i in range(1, 41))
    raw = content.encode("utf-8")
    name = "sonde-ecriture.csv"
    with open(os.path.join(w.tmpdir, name), "wb") as handle:
        handle.write(raw)
    result = w.seen.result(await call(session, "upload_resource", {"dataset_id": w.dataset_id, "file": name}))
    good, why = well_formed(result)
    R.check("upload_resource: well-formed answer", good, why)
    data = result.structuredContent if good else {}
    rid = data.get("id")
    status, direct = w.get_dataset(w.dataset_id)
    resources = (direct or {}).get("resources") or []
    match = [r for r in resources if r.get("title") == name]
    R.check(f"upload_resource: GET shows one resource titled {name!r}, id as answered",
            status == 200 and len(resources) == 1 and len(match) == 1 and match[0].get("id") == rid and rid,
            f"HTTP {status} answer id {rid} resources {[(r.get('id'), r.get('title')) for r in resources]}")
    if match:
        resource = match[0]
        R.check(f"upload_resource: filesize equals the file's {len(raw)} bytes", resource.get("filesize") == len(raw),
                f"filesize={resource.get('filesize')!r}")
        checksum = resource.get("checksum") or {}
        if checksum.get("type") == "sha1":
            R.check("upload_resource: udata's sha1 equals the file's", checksum.get("value") == hashlib.sha1(raw).hexdigest(),
                    f"{checksum} vs {hashlib.sha1(raw).hexdigest()}")
        R.check("upload_resource: the answer's url is the resource's", data.get("url") == resource.get("url"),
                f"{data.get('url')} vs {resource.get('url')}")

    # a path outside the allowed directory: refused, nothing uploaded (the file exists, so only the path is at fault)
    with open(os.path.join(os.path.dirname(w.tmpdir), "x.csv"), "w") as handle:
        handle.write("a,b\n1,2\n")
    result = w.seen.result(await call(session, "upload_resource", {"dataset_id": w.dataset_id, "file": "../x.csv"}))
    R.check("upload_resource '../x.csv': isError", is_error_result(result), f"isError={result.isError} {text_of(result)[:300]!r}")
    status, direct = w.get_dataset(w.dataset_id)
    R.check("upload_resource '../x.csv': the dataset still has one resource",
            status == 200 and len((direct or {}).get("resources") or []) == 1,
            f"HTTP {status} {len((direct or {}).get('resources') or [])} resources")


async def check_write_errors(session: ClientSession, w: WriteContext) -> None:
    missing = "000000000000000000000000"
    status, _ = w.get_dataset(missing)
    result = w.seen.result(await call(session, "get_dataset_info", {"dataset_id": missing}))
    R.check(f"writes errors: get_dataset_info on a missing id (udata HTTP {status}) → isError",
            status == 404 and is_error_result(result), f"isError={result.isError} {text_of(result)[:300]!r}")
    result = w.seen.result(await call(session, "update_dataset", {"dataset_id": missing, "changes": {"description": "x"}}))
    R.check("writes errors: update_dataset on a missing id → isError", is_error_result(result),
            f"isError={result.isError} {text_of(result)[:300]!r}")
    try:
        result = w.seen.result(await call(session, "query_resource_data",
                                          {"resource_id": w.rid_indexed, "filter_column": "categorie",
                                           "filter_value": "alpha", "filter_operator": "no_such_operator"}))
        # refused against the schema's enum before the tool runs, naming the operators it takes
        R.check("writes errors: query_resource_data filter_operator='no_such_operator' → isError naming the operators",
                bool(result.isError) and "no_such_operator" in text_of(result) and "strictly_greater" in text_of(result),
                f"isError={result.isError} {text_of(result)[:300]!r}")
    except McpError as err:
        w.seen.error(err)
        R.check(f"writes errors: query_resource_data filter_operator='no_such_operator' → refused (JSON-RPC {err.error.code})",
                err.error.code in (-32602, -32600), f"{err.error.code} {err.error.message}")
    result = w.seen.result(await call(session, "get_dataset_info", {"dataset_id": w.catalog}))
    good, why = well_formed(result)
    R.check("writes errors: the server still answers afterwards", good and result.structuredContent.get("id") == w.catalog, why)


async def run_writes_session(binary: str, w: WriteContext, env: dict, errlog_path: str) -> None:
    args = ["--allow-files", w.tmpdir, "--allow-writes"]
    async with served_session(binary, args, env, w.transport, errlog_path) as (session, init):
        w.seen.add(init.model_dump_json())
        await R.group("writes list_tools", check_write_tools_listed, session, w)
        await R.group("writes", check_writes, session, w)
        await R.group("writes errors", check_write_errors, session, w)


def delete_written_dataset(w: WriteContext) -> None:
    if not w.dataset_id or w.deleted:
        return
    status, _, body = http("DELETE", f"{w.udata}/datasets/{w.dataset_id}/", headers=w.auth())
    w.deleted = status in (200, 204)
    after, direct = w.get_dataset(w.dataset_id)
    gone = after in (404, 410) or (after == 200 and direct and direct.get("deleted"))
    R.check(f"writes cleanup: DELETE /datasets/{{id}}/ (HTTP {status}), then GET → {after}", w.deleted and gone,
            f"DELETE {status} {body[:200]!r}; GET {after}")


def run_writes_phase(binary: str, env: dict, work: str, transport: str, home: str) -> None:
    allowed = os.path.join(work, "writes", "allowed")
    os.makedirs(allowed)
    errlog_path = os.path.join(work, "writes", "server-stderr.log")
    w = WriteContext(env, allowed, transport)
    server = {**server_env(env, home), "DATAGOUV_API_KEY": w.key}
    try:
        asyncio.run(run_writes_session(binary, w, server, errlog_path))
    except BaseException as exc:  # noqa: BLE001 - a crashed session is a failure
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        if isinstance(exc, BaseExceptionGroup):
            detail += " | " + "; ".join(repr(e)[:200] for e in exc.exceptions)
        R.check("writes: session ran to the end", False, f"{detail} (server stderr: {errlog_path})")
        raise KeepWork() from exc
    finally:
        delete_written_dataset(w)
        stderr = ""
        if os.path.exists(errlog_path):
            with open(errlog_path, encoding="utf-8", errors="replace") as handle:
                stderr = handle.read()
        leaks = [item[:200] for item in w.seen.items if w.key in item]
        R.check(f"key hygiene: the key is in none of the {len(w.seen.items)} texts/structured contents returned", not leaks,
                f"{len(leaks)} contain it (first, key masked): {leaks[0].replace(w.key, '<KEY>') if leaks else ''}")
        R.check(f"key hygiene: the key is not in the server's stderr ({len(stderr)} chars)", w.key not in stderr,
                f"found in {errlog_path}")
        R.figure(f"writes_answers_scanned={len(w.seen.items)} writes_stderr_chars={len(stderr)}")


class KeepWork(Exception):
    """The writes phase failed in a way whose files are worth keeping."""


# ---------------------------------------------------------------------------
# the security phase (--part security): hostile ids, symlinks out of the
# allowed folder, foreign Origins, and Host names on a wildcard address

# Ids an MCP client can send that are not ids: each must stay one path segment
# (or be refused), never reach another endpoint (`/me/`, `/me/api_tokens/`, a list).
HOSTILE_IDS = ["../me/api_tokens", "../me", "..", ".", "a/b", "%2e%2e", "x?y"]
METRICS_MODELS = ["datasets", "resources", "organizations", "reuses", "dataservices"]


def hostile_calls(hostile: str) -> list[tuple[str, dict]]:
    """Every tool that takes an id or slug, called with `hostile` in it."""
    calls = [
        ("get_dataset_info", {"dataset_id": hostile}),
        ("list_dataset_resources", {"dataset_id": hostile}),
        ("get_resource_info", {"resource_id": hostile}),
        ("get_resource_profile", {"resource_id": hostile}),
        ("query_resource_data", {"resource_id": hostile}),
        ("export_resource_data", {"file": "hostile.csv", "resource_id": hostile}),
        ("get_dataservice_info", {"dataservice_id": hostile}),
        ("get_dataservice_openapi_spec", {"dataservice_id": hostile}),
        ("get_reuse_info", {"reuse_id": hostile}),
        ("get_topic_info", {"topic_id": hostile}),
        ("get_metrics", {"dataset_id": hostile, "resource_id": hostile}),
        ("update_dataset", {"dataset_id": hostile, "changes": {"description": "changed by a hostile id"}}),
        ("upload_resource", {"dataset_id": hostile, "file": "hostile-upload.csv"}),
        ("create_dataset", {"title": "Sonde MCP id hostile", "description": "must not be created",
                            "organization": hostile}),
    ]
    calls += [("get_model_metrics", {"model": model, "id": hostile}) for model in METRICS_MODELS]
    return calls


class SecurityContext:
    def __init__(self, env: dict, work: str, transport: str) -> None:
        self.env = env
        self.udata = env["DATAGOUV_TEST_UDATA_URL"].rstrip("/")
        self.key = env["DATAGOUV_TEST_USER_KEY"]
        self.catalog = env["DATAGOUV_TEST_CATALOG_DATASET_ID"]
        self.rid_indexed = env["DATAGOUV_TEST_RID_INDEXED"]
        self.transport = transport
        self.root = os.path.join(work, "security")
        self.allowed = os.path.join(self.root, "allowed")
        self.outside = os.path.join(self.root, "outside")
        self.errlog = os.path.join(self.root, "server-stderr.log")
        self.dataset_id: str | None = None
        self.seen = Recorder()
        self.secrets: dict[str, str] = {}

    def auth(self) -> dict:
        return {"X-API-KEY": self.key}

    def resources_of_dataset(self) -> int | None:
        status, _, body = http("GET", f"{self.udata}/datasets/{self.dataset_id}/", headers=self.auth())
        return len(json.loads(body).get("resources") or []) if status == 200 else None

    def leaked(self, text: str) -> list[str]:
        """The names of the secrets (the key, what /me and /me/api_tokens hold) found in `text`."""
        return [name for name, value in self.secrets.items() if value and value in text]


def security_setup(s: SecurityContext) -> None:
    """What must never come back (read with the key, as the server would), a private dataset, the folders."""
    me = get_json(f"{s.udata}/me/", headers=s.auth())
    tokens = get_json(f"{s.udata}/me/api_tokens/", headers=s.auth())
    s.secrets = {"the API key": s.key, "the user's email": me.get("email") or "", "the user's id": me.get("id") or ""}
    for token in tokens if isinstance(tokens, list) else []:
        s.secrets[f"api token id {token.get('id')}"] = token.get("id") or ""
        s.secrets[f"api token prefix {token.get('token_prefix')}"] = token.get("token_prefix") or ""
    R.check(f"security setup: /me/ and /me/api_tokens/ read ({len(s.secrets)} values that must never come back)",
            bool(me.get("email")) and len(s.secrets) >= 5, sorted(s.secrets))
    body = json.dumps({"title": f"Sonde MCP sécurité {int(time.time())}-{os.getpid()}", "private": True,
                       "description": "Créé par tests/mcp/check_mcp.py (phase sécurité), supprimé à la fin."}).encode()
    status, _, answer = http("POST", f"{s.udata}/datasets/", body, {**s.auth(), "Content-Type": "application/json"})
    if R.check("security setup: a private dataset of the user created through udata", status == 201, f"HTTP {status} {answer[:200]!r}"):
        s.dataset_id = json.loads(answer)["id"]
    os.makedirs(os.path.join(s.allowed, "sub"))
    os.makedirs(s.outside)
    with open(os.path.join(s.allowed, "hostile-upload.csv"), "w") as handle:
        handle.write("a,b\n1,2\n")
    with open(os.path.join(s.outside, "secret.csv"), "w") as handle:
        handle.write("secret,value\nx,1\n")
    with open(os.path.join(s.outside, "target.csv"), "w") as handle:
        handle.write("keep me\n")
    os.symlink(s.outside, os.path.join(s.allowed, "link"))  # a folder link that leaves the allowed folder
    os.symlink(os.path.join(s.outside, "target.csv"), os.path.join(s.allowed, "file-link.csv"))
    os.symlink(os.path.join(s.allowed, "sub"), os.path.join(s.allowed, "inner"))  # stays inside: allowed


async def check_hostile_ids(session: ClientSession, s: SecurityContext) -> None:
    before = get_json(f"{s.udata}/me/", headers=s.auth())
    refused, wrong = 0, []
    for hostile in HOSTILE_IDS:
        for name, args in hostile_calls(hostile):
            label = f"{name} {json.dumps(args, ensure_ascii=False)}"
            try:
                result = s.seen.result(await call(session, name, args))
            except McpError as err:
                s.seen.error(err)
                wrong.append((label, f"JSON-RPC {err.error.code} {err.error.message}"))
                continue
            text = text_of(result)
            answer = text + json.dumps(result.structuredContent, ensure_ascii=False)
            leaks = s.leaked(answer)
            if leaks:
                wrong.append((label, f"the answer holds {', '.join(leaks)}"))
            elif name in ("get_metrics", "get_model_metrics") and not result.isError:
                # ids are values of a filter there, never a path: "no metrics" is the clean answer
                months = [m for key, m in (result.structuredContent or {}).items() if key in ("datasets", "resources", "months")]
                if any(months):
                    wrong.append((label, f"metrics found for a hostile id: {text[:200]!r}"))
                else:
                    refused += 1
            elif not is_error_result(result):
                wrong.append((label, f"answered (isError={result.isError}): {text[:200]!r}"))
            else:
                refused += 1
    total = len(HOSTILE_IDS) * len(hostile_calls("x"))
    R.check(f"hostile ids: {total} calls ({len(HOSTILE_IDS)} ids × every tool taking an id) refused or found nothing, "
            "none answered with another endpoint's data", not wrong and refused == total,
            f"{len(wrong)} wrong, first: {wrong[:4]}")
    # the messages say what was wrong: the parameter and the value
    result = s.seen.result(await call(session, "get_dataset_info", {"dataset_id": ".."}))
    R.check("hostile ids: `..` as dataset_id is refused naming the parameter, before any request",
            is_error_result(result) and "dataset_id" in text_of(result) and "`..`" in text_of(result), text_of(result)[:300])
    after = get_json(f"{s.udata}/me/", headers=s.auth())
    R.check("hostile ids: the user's profile is unchanged", before == after or
            {k: v for k, v in before.items() if k != "last_login_at"} == {k: v for k, v in after.items() if k != "last_login_at"},
            "changed")
    if s.dataset_id:
        R.check("hostile ids: the user's dataset has no resource (no upload went astray)", s.resources_of_dataset() == 0,
                f"{s.resources_of_dataset()} resources")
    # controls: the same tools with real ids answer
    result = s.seen.result(await call(session, "get_dataset_info", {"dataset_id": s.catalog}))
    good, why = well_formed(result)
    R.check("hostile ids (control): get_dataset_info with the catalog's id answers it",
            good and result.structuredContent.get("id") == s.catalog, why)
    if s.dataset_id:
        result = s.seen.result(await call(session, "update_dataset",
                                          {"dataset_id": s.dataset_id, "changes": {"description": "changée par la sonde"}}))
        good, why = well_formed(result)
        R.check("hostile ids (control): update_dataset with the dataset's id changes it", good, why)


async def check_symlinks(session: ClientSession, s: SecurityContext) -> None:
    rid = s.rid_indexed
    outside_before = sorted(os.listdir(s.outside))
    for file in ("link/escaped.csv", "link/sub/escaped.csv", "file-link.csv"):
        result = s.seen.result(await call(session, "export_resource_data", {"file": file, "resource_id": rid}))
        R.check(f"symlinks: export to {file!r} (a link out of the allowed folder) → isError",
                is_error_result(result), f"isError={result.isError} {text_of(result)[:300]!r}")
        R.check(f"symlinks: export to {file!r}: its message names the allowed folder",
                "allowed folder" in text_of(result), text_of(result)[:300])
    with open(os.path.join(s.outside, "target.csv")) as handle:
        target = handle.read()
    R.check("symlinks: nothing written outside the allowed folder (its files unchanged, none added)",
            sorted(os.listdir(s.outside)) == outside_before and target == "keep me\n"
            and os.path.islink(os.path.join(s.allowed, "file-link.csv")),
            f"outside holds {sorted(os.listdir(s.outside))}, target.csv {target[:40]!r}")
    result = s.seen.result(await call(session, "export_resource_data", {"file": "inner/inside.csv", "resource_id": rid}))
    good, why = well_formed(result)
    R.check("symlinks (control): a link that stays inside the allowed folder is followed",
            good and os.path.isfile(os.path.join(s.allowed, "sub", "inside.csv")), why)
    if s.dataset_id:
        result = s.seen.result(await call(session, "upload_resource", {"dataset_id": s.dataset_id, "file": "link/secret.csv"}))
        R.check("symlinks: upload of 'link/secret.csv' (a file outside, through a link) → isError",
                is_error_result(result) and "allowed folder" in text_of(result), f"isError={result.isError} {text_of(result)[:300]!r}")
        R.check("symlinks: nothing was uploaded", s.resources_of_dataset() == 0, f"{s.resources_of_dataset()} resources")


def initialize_body() -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize",
                       "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                                  "clientInfo": {"name": "check_mcp", "version": "1"}}}).encode()


def post_initialize(port: int, extra: dict) -> tuple[int, bytes]:
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream", **extra}
    status, _, body = http("POST", f"http://127.0.0.1:{port}/mcp", initialize_body(), headers, 15)
    return status, body


@contextlib.contextmanager
def http_server(binary: str, args: list[str], env: dict, errlog_path: str):
    """A `datagouv mcp --http …` process; yields the port it prints."""
    process = subprocess.Popen([binary, "mcp", *args], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    found: dict = {}
    ready = threading.Event()

    def drain() -> None:
        with open(errlog_path, "a") as log:
            for line in process.stderr:
                log.write(line)
                prefix = "datagouv mcp: serving "
                if line.startswith(prefix) and "url" not in found:
                    found["url"] = line[len(prefix):].strip()
                    ready.set()
        ready.set()

    drainer = threading.Thread(target=drain, daemon=True)
    drainer.start()
    try:
        ready.wait(30)
        url = found.get("url")
        if not url:
            raise RuntimeError(f"`mcp {' '.join(args)}` printed no URL (exit code {process.poll()}, stderr in {errlog_path})")
        yield int(urllib.parse.urlsplit(url).port)
    finally:
        if process.poll() is None:
            process.send_signal(2)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        drainer.join(5)


def check_origins_and_hosts(binary: str, env: dict, s: SecurityContext) -> None:
    with http_server(binary, ["--http", "127.0.0.1:0"], env, s.errlog) as port:
        for label, headers, served in (
                ("no Origin", {}, True),
                ("Origin http://localhost:6274 (a local inspector)", {"Origin": "http://localhost:6274"}, True),
                (f"Origin http://127.0.0.1:{port}", {"Origin": f"http://127.0.0.1:{port}"}, True),
                ("Origin http://[::1]:3000", {"Origin": "http://[::1]:3000"}, True),
                ("Origin http://evil.example", {"Origin": "http://evil.example"}, False),
                ("Origin https://localhost.evil.example:443", {"Origin": "https://localhost.evil.example:443"}, False),
                ("Origin null", {"Origin": "null"}, False),
                (f"Host evil.example:{port} (DNS rebinding)", {"Host": f"evil.example:{port}"}, False)):
            status, body = post_initialize(port, headers)
            expected = 200 if served else 403
            R.check(f"http 127.0.0.1: {label} → {expected} (HTTP {status})", status == expected, body[:200])
    with http_server(binary, ["--http", "0.0.0.0:0", "--allow-remote"], env, s.errlog) as port:
        for label, headers, served in (
                (f"Host mcp.example.org:{port} (a remote name)", {"Host": f"mcp.example.org:{port}"}, True),
                (f"Host 192.0.2.7:{port} (a remote address)", {"Host": f"192.0.2.7:{port}"}, True),
                ("Host localhost", {"Host": f"localhost:{port}"}, True),
                ("a foreign Origin", {"Host": f"mcp.example.org:{port}", "Origin": "http://evil.example"}, False)):
            status, body = post_initialize(port, headers)
            expected = 200 if served else 403
            R.check(f"http 0.0.0.0 --allow-remote: {label} → {expected} (HTTP {status})", status == expected, body[:200])


async def run_security_session(binary: str, s: SecurityContext, env: dict) -> None:
    args = ["--allow-files", s.allowed, "--allow-writes"]
    async with served_session(binary, args, env, s.transport, s.errlog) as (session, init):
        await R.group("hostile ids", check_hostile_ids, session, s)
        await R.group("symlinks", check_symlinks, session, s)


def run_security_phase(binary: str, env: dict, work: str, transport: str, home: str) -> None:
    s = SecurityContext(env, work, transport)
    os.makedirs(s.root)
    server = {**server_env(env, home), "DATAGOUV_API_KEY": s.key}
    try:
        security_setup(s)
        asyncio.run(run_security_session(binary, s, server))
        if transport == "http":
            check_origins_and_hosts(binary, server, s)
    except BaseException as exc:  # noqa: BLE001 - a crashed session is a failure
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        if isinstance(exc, BaseExceptionGroup):
            detail += " | " + "; ".join(repr(e)[:200] for e in exc.exceptions)
        R.check("security: phase ran to the end", False, f"{detail} (server stderr: {s.errlog})")
        raise KeepWork() from exc
    finally:
        if s.dataset_id:
            status, _, _ = http("DELETE", f"{s.udata}/datasets/{s.dataset_id}/", headers=s.auth())
            R.check(f"security cleanup: the private dataset is deleted (HTTP {status})", status in (200, 204))
        leaks = [item for item in s.seen.items if s.key in item]
        R.check(f"security: the key is in none of the {len(s.seen.items)} answers", not leaks,
                f"{len(leaks)} hold it (first, key masked): {leaks[0][:200].replace(s.key, '<KEY>') if leaks else ''}")
        stderr = open(s.errlog, encoding="utf-8", errors="replace").read() if os.path.exists(s.errlog) else ""
        R.check("security: the key is not in the server's stderr", s.key not in stderr, s.errlog)


# ---------------------------------------------------------------------------
# command-line refusals: the process must exit before serving


def run_refusal(binary: str, args: list[str], env: dict) -> tuple[int | None, str]:
    try:
        done = subprocess.run([binary, "mcp", *args], env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=20)
        return done.returncode, done.stderr + done.stdout
    except subprocess.TimeoutExpired as err:
        out = (err.stderr or b"").decode("utf-8", "replace") if isinstance(err.stderr, bytes) else (err.stderr or "")
        return None, f"still running after 20 s: {out[:300]}"


def check_refusals(binary: str, env: dict, home: str, allowed: str) -> None:
    plain = server_env(env, home)  # no DATAGOUV_API_KEY, an empty config directory
    code, message = run_refusal(binary, ["--allow-writes"], plain)
    R.check(f"refusal: --allow-writes without DATAGOUV_API_KEY exits non-zero (exit {code})", code not in (None, 0),
            message[:300])
    R.check("refusal: its message mentions the API key", "api key" in message.lower() or "DATAGOUV_API_KEY" in message,
            message[:300])
    code, message = run_refusal(binary, ["--allow-writes", "--allow-files", allowed], plain)
    R.check(f"refusal: --allow-writes --allow-files without a key exits non-zero too (exit {code})",
            code not in (None, 0) and ("api key" in message.lower() or "DATAGOUV_API_KEY" in message), message[:300])
    code, message = run_refusal(binary, ["--http", "0.0.0.0:0"], plain)
    R.check(f"refusal: --http 0.0.0.0:0 without --allow-remote exits 2 (exit {code})", code == 2, message[:300])
    R.check("refusal: its message mentions --allow-remote", "--allow-remote" in message, message[:300])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True, help="the datagouv binary")
    parser.add_argument("--transport", choices=("stdio", "http"), default="stdio")
    parser.add_argument("--part", choices=("all", "main", "security"), default="all",
                        help="main: the tools, the writes and the refusals; security: hostile ids, symlinks, "
                             "Origin and Host checks; all: both")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (exports, server log)")
    args = parser.parse_args()

    needed = ["DATAGOUV_TEST_UDATA_BASE_URL", "DATAGOUV_TEST_UDATA_URL", "DATAGOUV_TEST_UDATA_V2_URL",
              "DATAGOUV_TEST_TABULAR_URL", "DATAGOUV_TEST_METRICS_URL", "DATAGOUV_TEST_ADMIN_KEY",
              "DATAGOUV_TEST_CATALOG_DATASET_ID", "DATAGOUV_TEST_USER_KEY", "DATAGOUV_TEST_USER_ORG_ID"] + [f"DATAGOUV_TEST_RID_{n}" for n in ("TYPES", "INDEXED", "NOT_AGGREGATED", "DELETED", "BIG")]
    missing = [name for name in needed if not os.environ.get(name)]
    binary = os.path.abspath(args.binary)
    if missing or not os.access(binary, os.X_OK):
        R.check("setup: stack variables exported and binary present", False,
                f"missing {missing}" if missing else f"{binary} is not executable")
        print(f"{R.passed} passed, {R.failed} failed")
        return 1

    work = tempfile.mkdtemp(prefix="check-mcp-")
    allowed = os.path.join(work, "allowed")
    home = os.path.join(work, "home")
    os.makedirs(allowed)
    os.makedirs(os.path.join(home, ".config"))
    errlog_path = os.path.join(work, "server-stderr.log")
    ctx = Context(dict(os.environ), allowed, args.transport)
    if args.part in ("all", "main"):
        try:
            if args.transport == "stdio":
                with open(errlog_path, "w") as errlog:
                    asyncio.run(run_stdio(binary, ctx, home, errlog))
            else:
                asyncio.run(run_http(binary, ctx, home, errlog_path))
        except BaseException as exc:  # noqa: BLE001 - a crashed session is a failure, not a traceback
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            if isinstance(exc, BaseExceptionGroup):
                detail += " | " + "; ".join(repr(e)[:200] for e in exc.exceptions)
            R.check("session ran to the end", False, f"{detail} (server stderr: {errlog_path})")
            args.keep = True
        finally:
            cleanup_dataservice(ctx)
        try:
            run_writes_phase(binary, dict(os.environ), work, args.transport, home)
        except KeepWork:
            args.keep = True
        check_refusals(binary, dict(os.environ), home, allowed)
    if args.part in ("all", "security"):
        try:
            run_security_phase(binary, dict(os.environ), work, args.transport, home)
        except KeepWork:
            args.keep = True
    if args.keep:
        print(f"# kept {work}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{R.passed} passed, {R.failed} failed")
    return 0 if R.failed == 0 and R.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
