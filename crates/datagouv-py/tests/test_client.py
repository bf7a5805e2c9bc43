"""The client's settings come from the same places as the command line's, and a blocking call
lets other Python threads run (the GIL is released while Rust works)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import BENCH_ROWS, RID_BENCH, Stack


def test_from_env_reads_the_variables_then_the_config_file(
    datagouv_rs: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        'env = "demo"\nmain_url = "http://127.0.0.1:1/api/1"\n'
        'tabular_url = "http://127.0.0.1:2"\napi_key = "from-the-file"\n'
    )
    for name in ("ENV", "MAIN_URL", "TABULAR_URL", "METRICS_URL", "API_KEY", "CONFIG"):
        monkeypatch.delenv(f"DATAGOUV_{name}", raising=False)
    monkeypatch.setenv("DATAGOUV_CONFIG", str(config))
    client = datagouv_rs.Client.from_env()
    assert (client.main_url, client.tabular_url, client.has_api_key) == (
        "http://127.0.0.1:1/api/1",
        "http://127.0.0.1:2",
        True,
    )
    # A variable wins over the file; the file named as an argument wins over DATAGOUV_CONFIG.
    monkeypatch.setenv("DATAGOUV_TABULAR_URL", "http://127.0.0.1:3")
    assert datagouv_rs.Client.from_env().tabular_url == "http://127.0.0.1:3"
    other = tmp_path / "other.toml"
    other.write_text('metrics_url = "http://127.0.0.1:4"\n')
    assert datagouv_rs.Client.from_env(other).metrics_url == "http://127.0.0.1:4"
    # A named file that does not exist, or a key the file may not hold, is a ConfigError.
    with pytest.raises(datagouv_rs.ConfigError, match="does not exist"):
        datagouv_rs.Client.from_env(tmp_path / "missing.toml")
    config.write_text('apikey = "typo"\n')
    with pytest.raises(datagouv_rs.ConfigError, match="api_key"):
        datagouv_rs.Client.from_env()
    assert "from-the-file" not in repr(datagouv_rs.Client(api_key="from-the-file"))


def test_a_blocking_call_lets_other_threads_run(anon_client: Any) -> None:
    ticks = 0
    done = threading.Event()

    def tick() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            time.sleep(0.005)

    thread = threading.Thread(target=tick)
    thread.start()
    try:
        start, before = time.perf_counter(), ticks
        table = anon_client.rows(RID_BENCH).to_arrow()
        elapsed, during = time.perf_counter() - start, ticks - before
    finally:
        done.set()
        thread.join()
    assert table.num_rows == BENCH_ROWS
    # A thread sleeping 5 ms at a time ticks about 200 times a second when the GIL is free; with
    # the GIL held by the call it would not tick at all until the call returned.
    print(f"{during} ticks during a {elapsed:.2f} s call")
    assert elapsed > 0.2 and during >= elapsed * 50, (during, elapsed)
