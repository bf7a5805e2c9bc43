"""Ctrl-C during a long export stops it within a second and leaves no final file; the export run
again goes on from what was kept. A forked child gets a clear error instead of a hang."""

from __future__ import annotations

import csv
import http.server
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import BENCH_ROWS, BENCH_TABLE, RID_BENCH, Stack


class ThrottlingProxy:
    """Forwards GETs to the real api-tabular, the bodies in 8 KiB chunks with a pause between
    them while `throttle` is set (about 200 KB/s a connection); links in JSON bodies are rewritten
    to the proxy. Records the path and the bytes of each answer."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.throttle = True
        self.served: list[tuple[str, int]] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:
                request = urllib.request.Request(proxy.upstream + self.path, headers={"Accept": self.headers.get("Accept", "*/*")})
                try:
                    upstream = urllib.request.urlopen(request, timeout=120)
                except urllib.error.HTTPError as error:
                    upstream = error
                sent = 0
                try:
                    kind = upstream.headers.get("Content-Type", "")
                    self.send_response(upstream.status if hasattr(upstream, "status") else upstream.code)
                    for name, value in upstream.headers.items():
                        if name.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                            self.send_header(name, value)
                    if "json" in kind:
                        body = upstream.read().replace(proxy.upstream.encode(), proxy.url.encode())
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body)
                        sent = len(body)
                    else:
                        self.end_headers()
                        while chunk := upstream.read(8192):
                            self.wfile.write(chunk)
                            self.wfile.flush()
                            sent += len(chunk)
                            if proxy.throttle:
                                time.sleep(0.04)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    upstream.close()
                    proxy.served.append((self.path, sent))

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def proxy(stack: Stack) -> Iterator[ThrottlingProxy]:
    server = ThrottlingProxy(stack.get("TABULAR_URL"))
    yield server
    server.close()


EXPORT = textwrap.dedent(
    """
    import sys, datagouv_rs
    client = datagouv_rs.Client(tabular_url=sys.argv[1])
    print("exporting", flush=True)
    summary = client.export(sys.argv[2], sys.argv[3])
    print("done", summary, flush=True)
    """
)


def csv_ids(path: Path) -> list[int]:
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return [int(row["__id"]) for row in rows]


def test_ctrl_c_stops_a_long_export_within_a_second_and_the_export_resumes(
    proxy: ThrottlingProxy, tmp_path: Path, stack: Stack
) -> None:
    target = tmp_path / "bench.csv"
    partial = tmp_path / ".bench.csv.partial"
    record = tmp_path / ".bench.csv.partial.json"
    child = subprocess.Popen(
        [sys.executable, "-c", EXPORT, proxy.url, RID_BENCH, str(target)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Wait until at least one window is complete (its record written beside the partial file).
        deadline = time.monotonic() + 60
        while not (record.exists() and partial.exists() and partial.stat().st_size > 0):
            assert child.poll() is None, f"the export ended early: {child.communicate()}"
            assert time.monotonic() < deadline, "no window of the export completed in 60 s"
            time.sleep(0.05)
        assert not target.exists()
        time.sleep(0.3)
        assert child.poll() is None, "the throttled export is still running"
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pytest.fail("the export did not stop within 10 s of Ctrl-C")
        elapsed = time.monotonic() - sent
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    out, err = child.communicate()
    print(f"Ctrl-C stopped the export in {elapsed:.3f} s; {partial.stat().st_size if partial.exists() else 0} bytes kept")
    assert elapsed < 1.0, f"Ctrl-C took {elapsed:.2f} s to stop the export"
    assert "KeyboardInterrupt" in err, f"stdout: {out}\nstderr: {err}"
    assert child.returncode in (-signal.SIGINT, 130, 1), child.returncode
    assert "done" not in out
    assert not target.exists(), "no final file after an interrupted export"
    assert partial.exists() and record.exists(), "the partial file and its record are kept for resuming"
    kept = partial.stat().st_size
    assert kept > 0

    # Run again through the same proxy (the same URL), unthrottled: it goes on from the partial file.
    proxy.throttle = False
    served_before = len(proxy.served)
    run = subprocess.run(
        [sys.executable, "-c", EXPORT, proxy.url, RID_BENCH, str(target)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert target.exists() and not partial.exists() and not record.exists()
    ids = csv_ids(target)
    assert len(ids) == BENCH_ROWS
    assert sorted(ids) == list(range(1, BENCH_ROWS + 1)), "every row once, none twice at the resume point"
    resumed_bytes = sum(n for _, n in proxy.served[served_before:])
    print(f"resumed: {resumed_bytes} bytes fetched for a {target.stat().st_size}-byte file ({kept} kept)")
    assert resumed_bytes < target.stat().st_size, (
        f"the second run fetched {resumed_bytes} bytes for a {target.stat().st_size}-byte file: "
        f"it started over instead of resuming from the {kept} bytes kept"
    )

    # Without the proxy (another URL): a complete export, equal to PostgreSQL's row count.
    direct = tmp_path / "direct.csv"
    run = subprocess.run(
        [sys.executable, "-c", EXPORT, stack.get("TABULAR_URL"), RID_BENCH, str(direct)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    count = int(stack.psql_csv(f'SELECT count(*) AS n FROM "{BENCH_TABLE}"')[0]["n"])
    assert len(csv_ids(direct)) == count == BENCH_ROWS
    assert direct.read_bytes() == target.read_bytes(), "the resumed file is the one a clean run writes"


FORK = textwrap.dedent(
    """
    import os, sys, time, datagouv_rs
    client = datagouv_rs.Client(main_url=sys.argv[1])
    client.dataset(sys.argv[2])  # the runtime runs in the parent
    pid = os.fork()
    if pid == 0:
        try:
            client.dataset(sys.argv[2])
            message = "no error"
        except datagouv_rs.Error as error:
            message = "datagouv_rs." + type(error).__name__ + ": " + str(error)
        except BaseException as error:
            message = "other: " + repr(error)
        os.write(1, ("CHILD " + message + "\\n").encode())
        os._exit(0)
    started = time.monotonic()
    while time.monotonic() - started < 10:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            print("ELAPSED", time.monotonic() - started, flush=True)
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        print("HANG", flush=True)
    """
)


def test_a_forked_child_gets_a_clear_error_not_a_hang(stack: Stack) -> None:
    run = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", FORK, stack.get("UDATA_BASE_URL"), stack.get("SPATIAL_DATASET_ID")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert "HANG" not in run.stdout, f"the forked child hung: {run.stdout}{run.stderr}"
    child = next((line for line in run.stdout.splitlines() if line.startswith("CHILD ")), None)
    assert child is not None, run.stdout + run.stderr
    assert child.startswith("CHILD datagouv_rs."), child
    assert "fork" in child.lower(), child
    elapsed = float(next(line for line in run.stdout.splitlines() if line.startswith("ELAPSED")).split()[1])
    print(child, f"({elapsed:.2f} s)")
    assert elapsed < 5, f"the child took {elapsed:.1f} s to fail"
