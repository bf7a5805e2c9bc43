"""The catalog: every family listed to the server's total (sync and async), objects by id equal to
udata's own JSON, items' attribute and key access, metrics rows counted as the Metrics API counts."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import run_async, Stack, without_volatile

PAGE = 7


@dataclass(frozen=True)
class Family:
    """One list of the catalog: the SDK's method, udata's list path and its get path."""

    name: str
    method: str
    getter: str
    list_path: str
    get_path: str
    admin: bool = False


FAMILIES = [
    Family("datasets", "datasets", "dataset", "/api/1/datasets/", "/api/1/datasets/{}/"),
    Family("organizations", "organizations", "organization", "/api/1/organizations/", "/api/1/organizations/{}/"),
    Family("reuses", "reuses", "reuse", "/api/1/reuses/", "/api/1/reuses/{}/"),
    Family("dataservices", "dataservices", "dataservice", "/api/1/dataservices/", "/api/1/dataservices/{}/"),
    # udata lists users to sysadmins only.
    Family("users", "users", "user", "/api/1/users/", "/api/1/users/{}/", admin=True),
    Family("discussions", "discussions", "discussion", "/api/1/discussions/", "/api/1/discussions/{}/"),
    # udata 17.18.0 has topics on API v2 only.
    Family("topics", "topics", "topic", "/api/2/topics/", "/api/2/topics/{}/"),
]


def server_ids(stack: Stack, path: str, key: str | None) -> list[str]:
    """Every id of a udata list, walked with urllib through its `next_page` links."""
    separator = "" if path.endswith(("?", "&")) else "&" if "?" in path else "?"
    url: str | None = f"{stack.get('UDATA_BASE_URL')}{path}{separator}page_size=100"
    ids: list[str] = []
    base = stack.get("UDATA_BASE_URL")
    while url:
        page = stack.json(url.removeprefix(base), key=key)
        ids.extend(item["id"] for item in page["data"])
        url = page.get("next_page")
    return ids


def key_for(stack: Stack, family: Family) -> str | None:
    return stack.get("ADMIN_KEY") if family.admin else None


def client_for(family: Family, anon_client: Any, admin_client: Any) -> Any:
    return admin_client if family.admin else anon_client


async def collect_async(iterator: Any) -> list[Any]:
    return [item async for item in iterator]


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_every_family_lists_to_the_servers_total_sync_and_async(
    family: Family, stack: Stack, anon_client: Any, admin_client: Any
) -> None:
    key = key_for(stack, family)
    client = client_for(family, anon_client, admin_client)
    total = stack.total(family.list_path, key=key)
    assert total > PAGE or family.name in ("dataservices", "topics"), f"{family.name}: {total} in the fixtures"
    expected = server_ids(stack, family.list_path, key)
    assert len(expected) == total, "udata's own pages add up to its total"

    iterator = getattr(client, family.method)(page_size=PAGE)
    assert iterator.total is None, "nothing is asked before the first item"
    items = list(iterator)
    assert iterator.total == total
    ids = [item["id"] for item in items]
    assert len(ids) == total, f"{family.name}: {len(ids)} items listed, udata announces {total}"
    assert len(set(ids)) == len(ids), f"{family.name}: an id listed twice"
    assert set(ids) == set(expected)

    async_iterator = getattr(client, f"{family.method}_async")(page_size=PAGE)
    assert async_iterator.total is None
    items_async = asyncio.run(collect_async(async_iterator))
    assert async_iterator.total == total
    ids_async = [item["id"] for item in items_async]
    assert len(ids_async) == total, f"{family.name} (async): {len(ids_async)} items, udata announces {total}"
    assert len(set(ids_async)) == len(ids_async)
    assert set(ids_async) == set(expected)


def test_limit_stops_the_list(anon_client: Any, stack: Stack) -> None:
    assert stack.total("/api/1/reuses/") > 10
    assert len(list(anon_client.reuses(page_size=PAGE, limit=10))) == 10


def test_filters_reach_the_server(anon_client: Any, stack: Stack) -> None:
    organization = stack.get("USER_ORG_ID")
    expected = server_ids(stack, f"/api/1/datasets/?organization={organization}&", None)
    listed = [d["id"] for d in anon_client.datasets(organization=organization, page_size=PAGE)]
    assert expected, "the user's organization holds datasets"
    assert sorted(listed) == sorted(expected)
    assert len(listed) < stack.total("/api/1/datasets/"), "the filter narrowed the list"


def test_resources_of_a_dataset_list_to_the_servers_total(
    anon_client: Any, stack: Stack
) -> None:
    # The fixture dataset with the most resources, so that pages of 7 are several.
    datasets = stack.json("/api/1/datasets/?page_size=100")["data"]
    dataset = max(datasets, key=lambda d: len(d["resources"]))
    path = f"/api/2/datasets/{dataset['id']}/resources/"
    total = stack.total(path)
    assert total > 2 * PAGE, f"{dataset['id']} has {total} resources"
    expected = server_ids(stack, path, None)

    iterator = anon_client.resources(dataset["id"], page_size=PAGE)
    items = list(iterator)
    assert iterator.total == total
    assert [r["id"] for r in items] == expected, "the resources, in udata's order"
    assert all(r.dataset_id == dataset["id"] for r in items), "each resource knows its dataset"

    items_async = asyncio.run(collect_async(anon_client.resources_async(dataset["id"], page_size=PAGE)))
    assert [r["id"] for r in items_async] == expected


def some_ids(stack: Stack, family: Family) -> list[str]:
    page = stack.json(f"{family.list_path}?page_size=3", key=key_for(stack, family))
    return [item["id"] for item in page["data"]]


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_an_object_by_id_is_udatas_json(
    family: Family, stack: Stack, anon_client: Any, admin_client: Any
) -> None:
    key = key_for(stack, family)
    client = client_for(family, anon_client, admin_client)
    ids = some_ids(stack, family)
    assert ids
    for id in ids:
        item = getattr(client, family.getter)(id)
        expected = stack.json(family.get_path.format(id), key=key)
        assert without_volatile(item.to_dict()) == without_volatile(expected), f"{family.name} {id}"
        assert item["id"] == id and item.id == id
        item_async = run_async(lambda: getattr(client, f"{family.getter}_async")(id))
        assert without_volatile(item_async.to_dict()) == without_volatile(expected), f"{family.name} {id} (async)"


def test_an_async_call_is_an_awaitable_made_outside_any_event_loop(anon_client: Any, stack: Stack) -> None:
    # The stub declares `async def dataset_async`: like any coroutine function, calling it needs no
    # running loop, so `asyncio.run(client.dataset_async(id))` works.
    id = stack.get("SPATIAL_DATASET_ID")
    awaitable = anon_client.dataset_async(id)
    assert asyncio.run(_await(awaitable)).id == id
    assert asyncio.run(anon_client.dataset_async(id)).id == id


async def _await(awaitable: Any) -> Any:
    return await awaitable


def test_a_dataset_by_slug_is_the_same_dataset(anon_client: Any, stack: Stack) -> None:
    dataset = stack.json("/api/1/datasets/?page_size=1")["data"][0]
    by_slug = anon_client.dataset(dataset["slug"])
    assert by_slug.id == dataset["id"]
    assert by_slug.to_dict() == stack.json(f"/api/1/datasets/{dataset['id']}/")


def test_a_resource_by_id_is_udatas_resource(anon_client: Any, stack: Stack) -> None:
    datasets = stack.json("/api/1/datasets/?page_size=100")["data"]
    dataset = next(d for d in datasets if d["resources"])
    rid = dataset["resources"][0]["id"]
    v1 = stack.json(f"/api/1/datasets/{dataset['id']}/resources/{rid}/")
    v2 = stack.json(f"/api/2/datasets/resources/{rid}/")
    for resource in (anon_client.resource(rid), run_async(lambda: anon_client.resource_async(rid))):
        assert resource.to_dict() in (v1, v2["resource"]), resource.to_dict()
        assert resource.dataset_id == dataset["id"] == v2["dataset_id"]


def test_items_give_fields_as_attributes_keys_and_plain_dicts(
    anon_client: Any, stack: Stack, datagouv_rs: Any
) -> None:
    # A dataset of the user's organization, and one owned by the user.
    with_org = stack.get("CONTACT_DATASET_ID")
    expected = stack.json(f"/api/1/datasets/{with_org}/")
    dataset = anon_client.dataset(with_org)
    assert isinstance(dataset, datagouv_rs.Dataset) and isinstance(dataset, datagouv_rs.Item)
    assert dataset.title == expected["title"] == dataset["title"]
    assert isinstance(dataset.organization, datagouv_rs.Item)
    assert dataset.organization.name == expected["organization"]["name"]
    assert dataset["organization"]["id"] == expected["organization"]["id"]
    assert dataset.organization.to_dict() == expected["organization"]
    assert set(dataset) == set(expected) and len(dataset) == len(expected)
    assert "title" in dataset and "nope" not in dataset
    plain = dataset.to_dict()
    assert type(plain) is dict and plain == expected
    assert all(type(v) in (dict, list, str, int, float, bool, type(None)) for v in plain.values())
    with pytest.raises(AttributeError):
        dataset.no_such_field
    with pytest.raises(KeyError):
        dataset["no_such_field"]

    owned = anon_client.dataset(stack.get("SPATIAL_DATASET_ID"))
    assert owned.owner.id == stack.get("USER_ID")
    assert owned.organization is None


def test_an_item_is_a_mapping(anon_client: Any, stack: Stack) -> None:
    from collections.abc import Mapping

    id = stack.get("CONTACT_DATASET_ID")
    expected = stack.json(f"/api/1/datasets/{id}/")
    dataset = anon_client.dataset(id)
    assert isinstance(dataset, Mapping)
    assert dataset.get("title") == expected["title"] and dataset.get("nope") is None
    assert list(dataset.keys()) == list(dataset)
    # The stub declares Item(Mapping[str, Any]): `items()` and `values()` come with it.
    assert dict(dataset.items()).keys() == expected.keys()
    assert len(list(dataset.values())) == len(expected)


def test_dataset_resources_are_resources_that_know_their_dataset(
    anon_client: Any, stack: Stack, datagouv_rs: Any
) -> None:
    datasets = stack.json("/api/1/datasets/?page_size=100")["data"]
    expected = max(datasets, key=lambda d: len(d["resources"]))
    dataset = anon_client.dataset(expected["id"])
    resources = dataset.resources
    assert len(resources) == len(expected["resources"]) > 1
    for resource, json in zip(resources, expected["resources"], strict=True):
        assert isinstance(resource, datagouv_rs.Resource)
        assert resource.id == json["id"] and resource.url == json["url"]
        assert resource.dataset_id == expected["id"]


def test_me_is_the_keys_user(client: Any, stack: Stack) -> None:
    me = client.me()
    assert me.id == stack.get("USER_ID")
    assert run_async(lambda: client.me_async()).id == stack.get("USER_ID")


def test_client_urls(client: Any, stack: Stack, datagouv_rs: Any, anon_client: Any) -> None:
    assert client.main_url.rstrip("/") == stack.get("UDATA_URL").rstrip("/")
    assert client.has_api_key and not anon_client.has_api_key
    # The site root is accepted too, and names the same API.
    root = datagouv_rs.Client(main_url=stack.get("UDATA_BASE_URL"))
    assert root.main_url.rstrip("/") == stack.get("UDATA_URL").rstrip("/")


@pytest.mark.parametrize("model", ["site", "datasets", "organizations"])
def test_metrics_rows_count_as_the_metrics_api_counts(anon_client: Any, stack: Stack, model: str) -> None:
    meta = stack.json(f"/api/{model}/data/?page_size=1", base=stack.get("METRICS_URL"))["meta"]
    assert meta["total"] > 0
    table = anon_client.metrics(model).to_arrow()
    assert table.num_rows == meta["total"], f"metrics {model}: {table.num_rows} rows, the API says {meta['total']}"
    rows_async = run_async(lambda: anon_client.metrics_async(model))
    assert len(rows_async.to_pylist()) == meta["total"]


def test_metrics_values_are_postgresqls(anon_client: Any, stack: Stack) -> None:
    expected = stack.psql_csv(
        "SELECT metric_month, monthly_visit_dataset, monthly_download_resource, monthly_visit_reuse "
        "FROM metric.site ORDER BY metric_month"
    )
    rows = sorted(anon_client.metrics("site").to_pylist(), key=lambda r: r["metric_month"])
    assert len(rows) == len(expected) == 36
    for row, want in zip(rows, expected, strict=True):
        for column, text in want.items():
            value = row[column]
            assert (None if text == "" else float(text) if column != "metric_month" else text) == (
                value if column == "metric_month" or value is None else float(value)
            ), f"{column}: {value!r} vs PostgreSQL {text!r}"
    # Filters and sorts go to the Metrics API.
    march = anon_client.metrics("site", filters=["metric_month__exact=2022-03"]).to_pylist()
    want_march = [float(r["monthly_visit_dataset"]) for r in expected if r["metric_month"] == "2022-03"]
    assert [float(r["monthly_visit_dataset"]) for r in march] == want_march
    latest = anon_client.metrics("site", sort=["metric_month:desc"], limit=2).to_pylist()
    assert [r["metric_month"] for r in latest] == ["2024-12", "2024-11"]
