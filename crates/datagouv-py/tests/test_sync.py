"""sync: the files of a dataset mirrored into a folder; a second run fetches nothing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from conftest import run_async, Stack


def test_sync_mirrors_a_dataset_and_a_second_run_fetches_nothing(
    client: Any, stack: Stack, user_dataset: str, tmp_path: Path
) -> None:
    sources = {}
    for name, size in (("premier.csv", 150_000), ("second.txt", 20_000)):
        path = tmp_path / name
        path.write_bytes(os.urandom(size // 2).hex().encode())
        sources[name] = path.read_bytes()
        client.upload_resource(user_dataset, path)
    resources = stack.json(f"/api/2/datasets/{user_dataset}/resources/?page_size=50", key=stack.get("USER_KEY"))
    assert resources["total"] == 2

    mirror = tmp_path / "miroir"
    first = client.sync(mirror, datasets=[user_dataset])
    assert isinstance(first, dict)
    assert first["failed"] == 0, first
    assert first["bytes"] == sum(len(b) for b in sources.values()), first
    files = [p for p in mirror.rglob("*") if p.is_file() and not p.name.startswith(".")]
    arrived = {p.name: p.read_bytes() for p in files}
    assert arrived == sources, sorted(arrived)
    stamps = {p: p.stat().st_mtime_ns for p in files}

    second = client.sync(mirror, datasets=[user_dataset])
    assert second["bytes"] == 0, second
    assert second["unchanged"] == 2, second
    assert second["failed"] == 0, second
    assert {p: p.stat().st_mtime_ns for p in files} == stamps, "no file was written again"

    # The async twin agrees, and a dry run of a new folder downloads nothing.
    third = run_async(lambda: client.sync_async(mirror, datasets=[user_dataset]))
    assert (third["bytes"], third["unchanged"]) == (0, 2), third
    dry = tmp_path / "sec"
    planned = client.sync(dry, datasets=[user_dataset], dry_run=True)
    written = [p for p in dry.rglob("*") if p.is_file()] if dry.exists() else []
    assert written == [], f"a dry run writes nothing: {written}"
    assert planned["failed"] == 0, planned


def test_sync_reports_the_documented_counts(client: Any, user_dataset: str, tmp_path: Path) -> None:
    path = tmp_path / "un.csv"
    path.write_text("a;b\n1;2\n")
    client.upload_resource(user_dataset, path)
    first = client.sync(tmp_path / "miroir", datasets=[user_dataset])
    second = client.sync(tmp_path / "miroir", datasets=[user_dataset])
    # The stub documents these counts.
    for key in ("new", "updated", "unchanged", "deleted", "gone", "failed", "to_check", "bytes", "failures"):
        assert key in first, f"no `{key}` in {first}"
    files = first["new"] + first["updated"] + first["unchanged"]
    assert first["new"] >= 1 and first["failed"] == 0 and first["failures"] == [], first
    assert (second["new"], second["updated"], second["unchanged"], second["bytes"]) == (0, 0, files, 0), second
