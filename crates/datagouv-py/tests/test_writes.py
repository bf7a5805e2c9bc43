"""Writes: datasets and resources created, changed and deleted through datagouv_rs, each read back
from udata with urllib; an upload streamed from disk and verified downloads of it; refusals."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import run_async, Recorder, Stack, make_client


@pytest.fixture()
def cleanup(stack: Stack) -> Iterator[list[str]]:
    """Ids of datasets to delete (with urllib) whatever the test's outcome."""
    ids: list[str] = []
    yield ids
    for id in ids:
        stack.request("DELETE", f"/api/1/datasets/{id}/", key=stack.get("USER_KEY"))


def random_file(path: Path, size: int) -> bytes:
    data = os.urandom(size // 2).hex().encode()[:size]
    path.write_bytes(data)
    return data


def read_dataset(stack: Stack, id: str) -> tuple[int, Any]:
    return stack.request("GET", f"/api/1/datasets/{id}/", key=stack.get("USER_KEY"))


def test_a_dataset_created_updated_and_deleted_is_read_back_from_udata(
    client: Any, anon_client: Any, stack: Stack, datagouv_rs: Any, cleanup: list[str]
) -> None:
    created = client.create_dataset(
        "Jeu créé par datagouv_rs",
        description="Une description — avec des accents.",
        tags=["python-tests", "arrow"],
    )
    cleanup.append(created.id)
    assert isinstance(created, datagouv_rs.Dataset)
    status, json = read_dataset(stack, created.id)
    assert status == 200, json
    assert json["title"] == "Jeu créé par datagouv_rs"
    assert json["description"] == "Une description — avec des accents."
    assert sorted(json["tags"]) == ["arrow", "python-tests"]
    assert json["owner"]["id"] == stack.get("USER_ID")
    assert created.title == json["title"] and created.slug == json["slug"]
    assert client.dataset(created.id).to_dict() == json, "a read through the SDK is udata's JSON"

    updated = client.update_dataset(created.id, {"description": "Changée.", "title": "Titre changé"})
    assert updated.description == "Changée."
    status, json = read_dataset(stack, created.id)
    assert (json["title"], json["description"]) == ("Titre changé", "Changée.")
    assert sorted(json["tags"]) == ["arrow", "python-tests"], "fields not named are kept"
    assert json["private"] is True, "a new dataset is a private draft"

    # Published, so that udata answers 410 to anyone once it is deleted (a private one is 404).
    client.update_dataset(created.id, {"private": False})
    assert read_dataset(stack, created.id)[1]["private"] is False

    assert client.delete_dataset(created.id) is None
    status, json = stack.request("GET", f"/api/1/datasets/{created.id}/")
    assert status == 410, f"udata answers a deleted dataset with 410, not {status}"
    with pytest.raises(datagouv_rs.NotFound) as raised:
        anon_client.dataset(created.id)
    assert raised.value.status == 410
    assert raised.value.message == json["message"], "the error carries the server's message"
    assert isinstance(raised.value, datagouv_rs.Error)
    # Its owner still reads it (udata answers 200 with `deleted` set): so does the SDK.
    status, owned = read_dataset(stack, created.id)
    assert status == 200 and owned["deleted"]
    assert client.dataset(created.id).to_dict() == owned


def test_async_twins_create_update_and_delete(
    client: Any, anon_client: Any, stack: Stack, datagouv_rs: Any, cleanup: list[str]
) -> None:
    async def scenario() -> str:
        created = await client.create_dataset_async("Jeu asynchrone", description="Créé en async.")
        cleanup.append(created.id)
        status, json = read_dataset(stack, created.id)
        assert status == 200 and json["title"] == "Jeu asynchrone"
        await client.update_dataset_async(created.id, {"description": "Changée en async.", "private": False})
        status, json = read_dataset(stack, created.id)
        assert json["description"] == "Changée en async." and json["private"] is False
        await client.delete_dataset_async(created.id)
        return created.id

    id = asyncio.run(scenario())
    assert stack.request("GET", f"/api/1/datasets/{id}/")[0] == 410
    with pytest.raises(datagouv_rs.NotFound) as raised:
        run_async(lambda: anon_client.dataset_async(id))
    assert raised.value.status == 410


def test_an_upload_is_streamed_verified_downloaded_replaced_and_deleted(
    client: Any, stack: Stack, datagouv_rs: Any, user_dataset: str, tmp_path: Path
) -> None:
    source = tmp_path / "donnees.csv"
    data = random_file(source, 400_000)
    resource = client.upload_resource(user_dataset, source)
    assert isinstance(resource, datagouv_rs.Resource)
    assert resource.dataset_id == user_dataset
    json = stack.json(
        f"/api/1/datasets/{user_dataset}/resources/{resource.id}/", key=stack.get("USER_KEY")
    )
    assert json["filesize"] == len(data) == 400_000
    assert json["checksum"] == {"type": "sha1", "value": hashlib.sha1(data).hexdigest()}
    assert json["filetype"] == "file"

    # Downloads, checked against the checksum, give the uploaded bytes.
    fetched = client.resource(resource.id)
    first = fetched.download(tmp_path / "a.csv")
    assert Path(first) == tmp_path / "a.csv" and first.read_bytes() == data
    second = client.download(resource.id, tmp_path / "b.csv")
    assert Path(second).read_bytes() == data
    folder = tmp_path / "dossier"
    folder.mkdir()
    third = run_async(lambda: client.download_async(resource.id, folder))
    assert Path(third).parent == folder and Path(third).read_bytes() == data
    leftovers = [p.name for p in tmp_path.rglob(".*")]
    assert leftovers == [], f"no partial file left: {leftovers}"

    # A new file for the same resource.
    replacement = tmp_path / "v2.csv"
    new_data = random_file(replacement, 250_000)
    replaced = client.upload_resource(user_dataset, replacement, replace=resource.id)
    assert replaced.id == resource.id
    json = stack.json(
        f"/api/1/datasets/{user_dataset}/resources/{resource.id}/", key=stack.get("USER_KEY")
    )
    assert json["checksum"]["value"] == hashlib.sha1(new_data).hexdigest()
    assert json["filesize"] == 250_000
    assert client.download(resource.id, tmp_path / "c.csv").read_bytes() == new_data

    assert client.delete_resource(resource.id) is None
    status, _ = stack.request(
        "GET", f"/api/1/datasets/{user_dataset}/resources/{resource.id}/", key=stack.get("USER_KEY")
    )
    assert status == 404
    with pytest.raises(datagouv_rs.NotFound) as raised:
        client.resource(resource.id)
    assert raised.value.status == 404


def test_async_upload_and_resource_update(
    client: Any, stack: Stack, user_dataset: str, tmp_path: Path
) -> None:
    source = tmp_path / "async.csv"
    data = random_file(source, 120_000)

    async def scenario() -> Any:
        resource = await client.upload_resource_async(user_dataset, source)
        await client.update_resource_async(resource.id, {"title": "Titre de ressource", "description": "Décrite."})
        return resource

    resource = asyncio.run(scenario())
    json = stack.json(
        f"/api/1/datasets/{user_dataset}/resources/{resource.id}/", key=stack.get("USER_KEY")
    )
    assert (json["title"], json["description"]) == ("Titre de ressource", "Décrite.")
    assert json["checksum"]["value"] == hashlib.sha1(data).hexdigest()
    updated = client.update_resource(resource.id, {"title": "Encore changé"})
    assert updated.title == "Encore changé"
    assert stack.json(
        f"/api/1/datasets/{user_dataset}/resources/{resource.id}/", key=stack.get("USER_KEY")
    )["title"] == "Encore changé"
    run_async(lambda: client.delete_resource_async(resource.id))
    status, _ = stack.request("GET", f"/api/1/datasets/{user_dataset}/resources/{resource.id}/")
    assert status == 404


KEYLESS_WRITES = {
    "create_dataset": lambda c, f: c.create_dataset("Sans clé", description="Refusé."),
    "update_dataset": lambda c, f: c.update_dataset("6b150eb3a747af8fb892b7c6", {"description": "x"}),
    "delete_dataset": lambda c, f: c.delete_dataset("6b150eb3a747af8fb892b7c6"),
    "upload_resource": lambda c, f: c.upload_resource("6b150eb3a747af8fb892b7c6", f),
    "update_resource": lambda c, f: c.update_resource("10000000-0000-4000-8000-000000000001", {"title": "x"}),
    "delete_resource": lambda c, f: c.delete_resource("10000000-0000-4000-8000-000000000001"),
    "create_dataset_async": lambda c, f: run_async(lambda: c.create_dataset_async("Sans clé", description="Refusé.")),
    "delete_resource_async": lambda c, f: run_async(lambda: c.delete_resource_async("10000000-0000-4000-8000-000000000001")),
}


@pytest.mark.parametrize("write", sorted(KEYLESS_WRITES))
def test_a_write_without_a_key_is_refused_before_any_request(
    datagouv_rs: Any, recorder: Recorder, tmp_path: Path, write: str
) -> None:
    keyless = datagouv_rs.Client(main_url=recorder.url)
    source = tmp_path / "f.csv"
    source.write_text("a\n1\n")
    with pytest.raises(datagouv_rs.Refused) as raised:
        KEYLESS_WRITES[write](keyless, source)
    assert raised.value.status is None, "no server answered"
    assert "key" in str(raised.value).lower(), str(raised.value)
    assert recorder.requests == [], recorder.requests


def test_an_update_naming_no_field_of_a_dataset_is_refused_before_any_request(
    stack: Stack, datagouv_rs: Any, recorder: Recorder, user_dataset: str
) -> None:
    # udata answers 200 to `{"nope": 1}` and ignores it: the SDK refuses it instead.
    status, _ = stack.request(
        "PUT",
        f"/api/1/datasets/{user_dataset}/",
        key=stack.get("USER_KEY"),
        body={"nope": 1},
    )
    assert status == 200, "udata silently ignores an unknown field"
    keyed = datagouv_rs.Client(main_url=recorder.url, api_key="une-cle")
    with pytest.raises(datagouv_rs.InvalidInput) as raised:
        keyed.update_dataset("6b150eb3a747af8fb892b7c6", {"nope": 1})
    assert raised.value.status is None
    assert "nope" in str(raised.value)
    assert recorder.requests == []


def test_an_update_udata_refuses_raises_invalid_input_with_its_message(
    client: Any, stack: Stack, datagouv_rs: Any, user_dataset: str
) -> None:
    status, body = stack.request(
        "PUT", f"/api/1/datasets/{user_dataset}/", key=stack.get("USER_KEY"), body={"title": ""}
    )
    assert status == 400, body
    with pytest.raises(datagouv_rs.InvalidInput) as raised:
        client.update_dataset(user_dataset, {"title": ""})
    assert raised.value.status == 400
    assert "title" in str(raised.value), str(raised.value)


def test_a_write_to_someone_elses_dataset_is_refused_by_udata(
    stack: Stack, datagouv_rs: Any
) -> None:
    # A fixture dataset of another organization: the non-admin user may not change it.
    datasets = stack.json("/api/1/datasets/?page_size=100")["data"]
    other = next(d for d in datasets if d["organization"] and d["organization"]["id"] != stack.get("USER_ORG_ID"))
    status, _ = stack.request(
        "PUT", f"/api/1/datasets/{other['id']}/", key=stack.get("USER_KEY"), body={"description": "x"}
    )
    assert status == 403
    client = make_client(stack, stack.get("USER_KEY"))
    with pytest.raises(datagouv_rs.Refused) as raised:
        client.update_dataset(other["id"], {"description": "Changée ?"})
    assert raised.value.status == 403
    assert stack.json(f"/api/1/datasets/{other['id']}/")["description"] == other["description"]
