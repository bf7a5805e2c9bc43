"""The API key never reaches a third-party file host: a remote resource of udata points at a local
server (another origin than the Main API's), which records every request's headers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from conftest import run_async, Recorder, Stack

BODY = ("code;libellé\n" + "".join(f"{i};ligne {i}\n" for i in range(5000))).encode()


def file_host(path: str) -> tuple[int, dict[str, str], bytes]:
    """Serves the file at /donnees.csv, reached through a redirect from /depart."""
    if path.startswith("/depart"):
        return 302, {"Location": "/donnees.csv"}, b""
    if path.startswith("/donnees.csv"):
        return 200, {"Content-Type": "text/csv"}, BODY
    return 404, {}, b"not here"


def test_the_key_is_never_sent_to_a_third_party_file_host(
    client: Any, stack: Stack, user_dataset: str, tmp_path: Path
) -> None:
    host = Recorder(file_host)
    try:
        key = stack.get("USER_KEY")
        rids = []
        for path in ("/donnees.csv", "/depart"):
            status, resource = stack.request(
                "POST",
                f"/api/1/datasets/{user_dataset}/resources/",
                key=key,
                body={
                    "title": f"distante {path}",
                    "url": f"{host.url}{path}",
                    "filetype": "remote",
                    "type": "main",
                    "format": "csv",
                },
            )
            assert status == 201, resource
            assert resource["url"] == f"{host.url}{path}"
            rids.append(resource["id"])

        assert client.has_api_key
        for n, rid in enumerate(rids):
            target = client.download(rid, tmp_path / f"sync-{n}.csv")
            assert Path(target).read_bytes() == BODY
            resource = client.resource(rid)
            assert Path(resource.download(tmp_path / f"item-{n}.csv")).read_bytes() == BODY
            target = run_async(lambda: client.download_async(rid, tmp_path / f"async-{n}.csv"))
            assert Path(target).read_bytes() == BODY

        assert host.requests, "the file host was asked for the file"
        paths = [path for _, path, _ in host.requests]
        assert any(p.startswith("/depart") for p in paths) and any(p.startswith("/donnees.csv") for p in paths)
        for method, path, headers in host.requests:
            names = {name.lower() for name in headers}
            assert "x-api-key" not in names, f"{method} {path} carried the API key: {headers}"
            assert "authorization" not in names, f"{method} {path} carried credentials: {headers}"
            assert key not in " ".join(headers.values()), f"{method} {path}: the key in a header"
            assert key not in path
    finally:
        host.close()


def test_the_key_does_reach_udata(client: Any, stack: Stack) -> None:
    # The control: the same client's key is sent to the Main API (a private read needs it).
    me = client.me()
    assert me.id == stack.get("USER_ID")
