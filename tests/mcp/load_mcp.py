#!/usr/bin/env python3
"""`datagouv mcp --http` under load and across a restart, against the local real-server stack.

Run with the stack's variables exported (`set -a; . STATE/stack.env; set +a`), as
scripts/bench-mcp.sh does:

    "$DATAGOUV_TEST_MCP_PYTHON" tests/mcp/load_mcp.py --binary target/release/datagouv

1. Load: CLIENTS clients (200), each with its own HTTP connection pool, start together; each
   initializes and makes CALLS tool calls (10) in turn: get_dataset_info, query_resource_data
   (a filter), search_organizations, cycling. Every answer is compared with what udata and
   api-tabular hold (read here first, with urllib). Prints the p50/p99/max latency of the calls,
   the wall time, and the server's peak RSS (VmHWM) and idle RSS.
2. Restart: one client calls, the server is stopped (SIGINT) and started again on the same
   port, the same client calls again: in the default stateless mode the second call is answered
   as the first; with `--http-sessions` (for contrast) it is refused, the session being gone.

Prints `ok:`/`FAIL:` lines, `figure:` lines and `N passed, M failed`; exits 0 only when all passed.
JSON-RPC over plain HTTP (httpx, which the official MCP SDK depends on): the Python SDK's client
itself costs more CPU per call than the server, and 200 of them on 2 cores would measure Python.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import httpx

PROTOCOL = "2025-06-18"
R = {"passed": 0, "failed": 0}


def check(name: str, cond: bool, detail: object = "") -> bool:
    print(f"ok: {name}" if cond else f"FAIL: {name} — {str(detail)[:600]}", flush=True)
    R["passed" if cond else "failed"] += 1
    return cond


def figure(text: str) -> None:
    print(f"figure: {text}", flush=True)


def get_json(url: str):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=60) as response:
        return json.loads(response.read())


def status_kb(pid: int, key: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`datagouv mcp --http 127.0.0.1:PORT` and its stderr."""

    def __init__(self, binary: str, port: int, extra: list[str], env: dict) -> None:
        self.process = subprocess.Popen([binary, "mcp", "--http", f"127.0.0.1:{port}", *extra], env=env,
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True)
        self.ready = threading.Event()
        self.lines: list[str] = []
        threading.Thread(target=self._drain, daemon=True).start()
        if not self.ready.wait(30):
            raise RuntimeError(f"the server did not start: {self.lines}")

    def _drain(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line)
            if line.startswith("datagouv mcp: serving "):
                self.ready.set()
        self.ready.set()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(2)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Client:
    """One MCP client over its own connection pool: JSON-RPC POSTs, answers as JSON or SSE."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.AsyncClient(timeout=120, trust_env=False)
        self.session: str | None = None
        self.next_id = 0

    def headers(self) -> dict:
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
                   "MCP-Protocol-Version": PROTOCOL}
        if self.session:
            headers["Mcp-Session-Id"] = self.session
        return headers

    async def post(self, message: dict) -> tuple[int, dict | None]:
        response = await self.http.post(self.url, json=message, headers=self.headers())
        if "mcp-session-id" in response.headers:
            self.session = response.headers["mcp-session-id"]
        text = response.text
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            data = [line[5:].strip() for line in text.splitlines() if line.startswith("data:") and line[5:].strip()]
            text = data[-1] if data else ""
        try:
            return response.status_code, json.loads(text) if text else None
        except ValueError:
            return response.status_code, None

    async def initialize(self) -> bool:
        self.next_id += 1
        status, answer = await self.post({"jsonrpc": "2.0", "id": self.next_id, "method": "initialize", "params": {
            "protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "load_mcp", "version": "1"}}})
        if status != 200 or not answer or "result" not in answer:
            return False
        await self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return True

    async def call(self, name: str, arguments: dict) -> tuple[int, dict | None]:
        self.next_id += 1
        status, answer = await self.post({"jsonrpc": "2.0", "id": self.next_id, "method": "tools/call",
                                          "params": {"name": name, "arguments": arguments}})
        result = (answer or {}).get("result")
        return status, result

    async def close(self) -> None:
        await self.http.aclose()


def plan(env: dict) -> list[tuple[str, dict, callable]]:
    """The calls, each with the check of its answer against udata / api-tabular read here."""
    udata = env["DATAGOUV_TEST_UDATA_URL"].rstrip("/")
    udata2 = env["DATAGOUV_TEST_UDATA_V2_URL"].rstrip("/")
    tabular = env["DATAGOUV_TEST_TABULAR_URL"].rstrip("/")
    rid = env["DATAGOUV_TEST_RID_INDEXED"]
    datasets = get_json(f"{udata}/datasets/?page_size=20")["data"]
    truth = {d["id"]: d["title"] for d in datasets}
    categories = ["alpha", "bêta", "gamma", "delta", "epsilon"]
    totals = {c: get_json(f"{tabular}/api/resources/{rid}/data/?"
                          + urllib.parse.urlencode({"categorie__exact": c, "page_size": 1}))["meta"]["total"]
              for c in categories}
    orgs = get_json(f"{udata2}/organizations/search/?page=1&page_size=5")
    org_ids = [o["id"] for o in orgs["data"]]
    calls = []
    for dataset_id, title in truth.items():
        calls.append(("get_dataset_info", {"dataset_id": dataset_id},
                      lambda data, i=dataset_id, t=title: data.get("id") == i and data.get("title") == t,
                      f"{udata}/datasets/{dataset_id}/"))
    for category, total in totals.items():
        calls.append(("query_resource_data", {"resource_id": rid, "filter_column": "categorie", "filter_value": category,
                                              "page_size": 5},
                      lambda data, t=total: data.get("total") == t and len(data.get("rows", [])) == min(5, t),
                      f"{tabular}/api/resources/{rid}/data/?"
                      + urllib.parse.urlencode({"categorie__exact": category, "page_size": 5})))
    calls.append(("search_organizations", {"query": "", "page_size": 5},
                  lambda data: [o.get("id") for o in data.get("organizations", [])] == org_ids,
                  f"{udata2}/organizations/search/?page=1&page_size=5"))
    return calls


async def one_client(url: str, calls: list, offset: int, count: int, latencies: list, wrong: list,
                     start: asyncio.Event) -> None:
    client = Client(url)
    try:
        await start.wait()
        if not await client.initialize():
            wrong.append((offset, "initialize failed"))
            return
        for n in range(count):
            name, arguments, good, _ = calls[(offset + n) % len(calls)]
            started = time.perf_counter()
            status, result = await client.call(name, arguments)
            latencies.append((time.perf_counter() - started) * 1000)
            data = (result or {}).get("structuredContent") or {}
            if status != 200 or not result or result.get("isError") or not good(data):
                text = json.dumps(result)[:200] if result else f"HTTP {status}"
                wrong.append((offset, name, text))
    except Exception as exc:  # noqa: BLE001 - a crash is a wrong answer
        wrong.append((offset, repr(exc)[:200]))
    finally:
        await client.close()


async def one_direct(calls: list, offset: int, count: int, latencies: list, wrong: list, start: asyncio.Event) -> None:
    """The same requests the tools make, straight to udata / api-tabular: the floor."""
    async with httpx.AsyncClient(timeout=120, trust_env=False) as client:
        await start.wait()
        for n in range(count):
            url = calls[(offset + n) % len(calls)][3]
            started = time.perf_counter()
            try:
                response = await client.get(url)
                response.json()
                if response.status_code != 200:
                    wrong.append((offset, url, response.status_code))
            except Exception as exc:  # noqa: BLE001
                wrong.append((offset, url, repr(exc)[:100]))
            latencies.append((time.perf_counter() - started) * 1000)


def summary(latencies: list[float], wall: float) -> str:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"calls={len(ordered)} wall_s={wall:.2f} calls_per_s={len(ordered) / wall:.0f} "
            f"p50_ms={statistics.median(ordered):.1f} p99_ms={p99:.1f} max_ms={ordered[-1]:.1f}")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(binary: str, env: dict, server_env: dict, clients: int, count: int) -> None:
    calls = plan(env)
    port = free_port()
    server = Server(binary, port, [], server_env)
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        warm = Client(url)
        await warm.initialize()
        await warm.call(*calls[0][:2])
        await warm.close()
        await asyncio.sleep(0.3)
        idle = status_kb(server.process.pid, "VmRSS")
        latencies: list[float] = []
        wrong: list = []
        start = asyncio.Event()
        tasks = [asyncio.create_task(one_client(url, calls, i * 3, count, latencies, wrong, start)) for i in range(clients)]
        await asyncio.sleep(0.5)
        cpu_before = cpu_seconds(server.process.pid)
        began = time.perf_counter()
        start.set()
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - began
        cpu = cpu_seconds(server.process.pid) - cpu_before
        peak = status_kb(server.process.pid, "VmHWM")
        check(f"load: {clients} clients x {count} calls, every answer equal to udata's / api-tabular's",
              not wrong and len(latencies) == clients * count, f"{len(wrong)} wrong, first {wrong[:3]}")
        if latencies:
            figure(f"load_mcp {summary(latencies, wall)} server_cpu_ms_per_call={cpu * 1000 / len(latencies):.2f}")
        figure(f"load_rss_mb idle={idle / 1024:.1f} peak={peak / 1024:.1f}" if idle and peak else "load_rss_mb=unknown")
        check("load: peak RSS <= 64 MB", bool(peak) and peak / 1024 <= 64, f"{peak} kB")
        check("load: the server still runs", server.process.poll() is None, server.lines[-5:])
        # the floor: the same requests straight to udata / api-tabular, as many clients at once
        direct: list[float] = []
        failed: list = []
        start = asyncio.Event()
        tasks = [asyncio.create_task(one_direct(calls, i * 3, count, direct, failed, start)) for i in range(clients)]
        await asyncio.sleep(0.5)
        began = time.perf_counter()
        start.set()
        await asyncio.gather(*tasks)
        check("direct: the same requests to udata / api-tabular all answered 200", not failed, failed[:3])
        figure(f"load_direct {summary(direct, time.perf_counter() - began)}")
    finally:
        server.stop()


async def restart(binary: str, env: dict, server_env: dict, sessions: bool) -> None:
    calls = plan(env)
    name, arguments, good, _ = calls[0]
    port = free_port()
    extra = ["--http-sessions"] if sessions else []
    mode = "with --http-sessions" if sessions else "stateless (default)"
    server = Server(binary, port, extra, server_env)
    client = Client(f"http://127.0.0.1:{port}/mcp")
    try:
        await client.initialize()
        status, result = await client.call(name, arguments)
        first = status == 200 and result and not result.get("isError") and good(result.get("structuredContent") or {})
        check(f"restart, {mode}: the first call is answered", bool(first), result)
        server.stop()
        server = Server(binary, port, extra, server_env)
        status, result = await client.call(name, arguments)
        second = status == 200 and result and not result.get("isError") and good(result.get("structuredContent") or {})
        if sessions:
            check(f"restart, {mode}: the same client's next call is refused (its session died with the server)",
                  not second and status == 404, f"HTTP {status} {result}")
        else:
            check(f"restart, {mode}: the same client's next call, after the restart, is answered alike",
                  bool(second) and client.session is None, f"HTTP {status} {result}")
    finally:
        await client.close()
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--clients", type=int, default=int(os.environ.get("BENCH_MCP_CLIENTS", 200)))
    parser.add_argument("--calls", type=int, default=int(os.environ.get("BENCH_MCP_CALLS", 10)))
    args = parser.parse_args()
    env = dict(os.environ)
    home = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"load-mcp-{os.getpid()}")
    os.makedirs(os.path.join(home, ".config"), exist_ok=True)
    server_env = {"PATH": env.get("PATH", "/usr/bin:/bin"), "HOME": home, "XDG_CONFIG_HOME": os.path.join(home, ".config"),
                  "DATAGOUV_MAIN_URL": env["DATAGOUV_TEST_UDATA_BASE_URL"],
                  "DATAGOUV_TABULAR_URL": env["DATAGOUV_TEST_TABULAR_URL"],
                  "DATAGOUV_METRICS_URL": env["DATAGOUV_TEST_METRICS_URL"]}
    try:
        asyncio.run(load(os.path.abspath(args.binary), env, server_env, args.clients, args.calls))
        asyncio.run(restart(os.path.abspath(args.binary), env, server_env, sessions=False))
        asyncio.run(restart(os.path.abspath(args.binary), env, server_env, sessions=True))
    except Exception as exc:  # noqa: BLE001
        check("load run ended", False, repr(exc))
    print(f"{R['passed']} passed, {R['failed']} failed")
    return 0 if R["failed"] == 0 and R["passed"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
