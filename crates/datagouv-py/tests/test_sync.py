"""sync: the files of a dataset mirrored into a folder; a second run fetches nothing."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from conftest import Stack


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
    assert first["downloaded"] == 2, first
    assert first["failed"] == 0, first
    assert first["bytes"] == sum(len(b) for b in sources.values()), first
    arrived = {p.name: p.read_bytes() for p in mirror.rglob("*") if p.is_file() and not p.name.startswith(".")}
    assert arrived == sources, sorted(arrived)

    second = client.sync(mirror, datasets=[user_dataset])
    assert second["downloaded"] == 0, second
    assert second["unchanged"] == 2, second
    assert second["failed"] == 0, second

    # The async twin agrees, and a dry run of a new folder downloads nothing.
    third = asyncio.run(client.sync_async(mirror, datasets=[user_dataset]))
    assert (third["downloaded"], third["unchanged"]) == (0, 2), third
    dry = tmp_path / "sec"
    planned = client.sync(dry, datasets=[user_dataset], dry_run=True)
    written = [p for p in dry.rglob("*") if p.is_file()] if dry.exists() else []
    assert written == [], f"a dry run writes nothing: {written}"
    assert planned["failed"] == 0, planned
