"""Errors: the exception hierarchy, the status and message each carries as the real servers answer,
and bad input refused before any request."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import run_async, Recorder, Stack


def test_the_exception_hierarchy(datagouv_rs: Any) -> None:
    assert issubclass(datagouv_rs.Error, Exception)
    for name in (
        "NotFound",
        "Refused",
        "InvalidInput",
        "RateLimited",
        "Transport",
        "ServerError",
        "ChecksumMismatch",
        "FileError",
        "ConfigError",
    ):
        cls = getattr(datagouv_rs, name)
        assert issubclass(cls, datagouv_rs.Error), name
        assert cls is getattr(datagouv_rs._native, name), f"{name} is re-exported from _native"
    assert not issubclass(datagouv_rs.NotFound, datagouv_rs.Refused)


def test_a_deleted_resource_raises_not_found_with_410(
    anon_client: Any, stack: Stack, datagouv_rs: Any
) -> None:
    rid = stack.get("RID_DELETED")
    status, body = stack.request(
        "GET", f"/api/resources/{rid}/data/", base=stack.get("TABULAR_URL")
    )
    assert status == 410, body
    for read in (
        lambda: anon_client.rows(rid).to_arrow(),
        lambda: list(anon_client.rows(rid)),
        lambda: run_async(lambda: anon_client.rows_async(rid)).to_pylist(),
    ):
        with pytest.raises(datagouv_rs.NotFound) as raised:
            read()
        assert raised.value.status == 410
        assert "deleted" in str(raised.value).lower(), str(raised.value)


def test_an_unknown_resource_of_the_tabular_api_is_not_found(
    anon_client: Any, stack: Stack, datagouv_rs: Any
) -> None:
    rid = stack.get("RID_UNKNOWN")
    status, _ = stack.request("GET", f"/api/resources/{rid}/data/", base=stack.get("TABULAR_URL"))
    assert status == 404
    with pytest.raises(datagouv_rs.NotFound) as raised:
        anon_client.rows(rid).to_arrow()
    assert raised.value.status == 404


def test_an_unknown_dataset_is_not_found_with_a_hint(
    anon_client: Any, stack: Stack, datagouv_rs: Any
) -> None:
    missing = "000000000000000000000000"
    assert stack.request("GET", f"/api/1/datasets/{missing}/")[0] == 404
    for call in (lambda: anon_client.dataset(missing), lambda: run_async(lambda: anon_client.dataset_async(missing))):
        with pytest.raises(datagouv_rs.NotFound) as raised:
            call()
        error = raised.value
        assert error.status == 404
        assert error.message
        assert error.hint, "a 404 says what to do next"
        assert missing in str(error), str(error)


@pytest.mark.parametrize("bad", ["nope", "col__nope=1", "=1", ("col", "nope", 1)])
def test_a_bad_filter_is_refused_before_any_request(
    datagouv_rs: Any, recorder: Recorder, bad: Any
) -> None:
    client = datagouv_rs.Client(tabular_url=recorder.url, metrics_url=recorder.url)
    with pytest.raises(datagouv_rs.InvalidInput) as raised:
        client.rows("10000000-0000-4000-8000-000000000001", filters=[bad]).to_arrow()
    assert raised.value.status is None
    assert raised.value.message
    assert recorder.requests == [], recorder.requests


def test_a_bad_group_and_a_bad_sort_are_refused_before_any_request(
    datagouv_rs: Any, recorder: Recorder
) -> None:
    client = datagouv_rs.Client(tabular_url=recorder.url)
    rid = "10000000-0000-4000-8000-000000000001"
    for make in (
        lambda: client.rows(rid, where="or(a__exact=1").to_arrow(),
        lambda: client.rows(rid, sort=["col:sideways"]).to_arrow(),
    ):
        with pytest.raises(datagouv_rs.InvalidInput) as raised:
            make()
        assert raised.value.status is None
    assert recorder.requests == []


def test_bad_list_arguments_are_refused_before_any_request(
    datagouv_rs: Any, recorder: Recorder
) -> None:
    client = datagouv_rs.Client(main_url=recorder.url + "/api/1")
    for kwargs, named in (
        ({"no_such_filter": "x"}, "no_such_filter"),
        ({"page_size": 0}, "page_size"),
        ({"prefetch": 1_000_000}, "prefetch"),
    ):
        for make in (client.datasets, client.datasets_async):
            with pytest.raises(datagouv_rs.InvalidInput) as raised:
                make(**kwargs)
            assert named in raised.value.message and raised.value.status is None, raised.value
    assert recorder.requests == []


def test_an_id_stays_in_its_path_segment(client: Any, stack: Stack, datagouv_rs: Any) -> None:
    # With the user's key, `/api/1/me/` would answer the user: a path made of the id must never get there.
    for id in ("../me", "../../1/me", "x/../../me", "..%2Fme"):
        with pytest.raises(datagouv_rs.NotFound) as raised:
            client.dataset(id)
        assert raised.value.status == 404, id
    for id in ("..", ".", ""):
        with pytest.raises(datagouv_rs.InvalidInput) as refused:
            client.dataset(id)
        assert refused.value.status is None, id
    with pytest.raises(datagouv_rs.NotFound):
        client.organization("../me")


def test_bad_client_settings_raise_config_error(datagouv_rs: Any) -> None:
    with pytest.raises(datagouv_rs.ConfigError) as raised:
        datagouv_rs.Client(env="nope")  # type: ignore[arg-type]
    assert "nope" in str(raised.value)
    with pytest.raises(datagouv_rs.ConfigError):
        datagouv_rs.Client(main_url="pas une url")


def test_an_unreachable_server_raises_transport(datagouv_rs: Any) -> None:
    import socket

    # A port nothing listens on.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = datagouv_rs.Client(main_url=f"http://127.0.0.1:{port}")
    with pytest.raises(datagouv_rs.Transport) as raised:
        client.dataset("6b150eb3a747af8fb892b7c6")
    assert raised.value.status is None
