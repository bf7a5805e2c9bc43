"""The compiled part of datagouv_rs (Rust, PyO3): the client, its items, iterators and row streams."""

import os
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, final

from typing_extensions import disjoint_base

_T = TypeVar("_T", bound="Item")
_PathLike = str | os.PathLike[str]
_Filter = str | tuple[str, str, Any]
_Scalar = str | int | float | bool

__all__ = ["__version__", "Error", "NotFound", "Refused", "InvalidInput", "RateLimited", "Transport", "ServerError", "ChecksumMismatch", "FileError", "ConfigError", "Client", "Item", "Dataset", "Resource", "ItemIterator", "AsyncItemIterator", "Rows", "RowIterator", "AsyncRowIterator"]

__version__: str

class Error(Exception):
    """Every error of datagouv_rs. `status` is the HTTP status (None when no server answered),
    `message` what went wrong, `hint` what to do next (None when there is nothing to add)."""

    status: int | None
    message: str
    hint: str | None

class NotFound(Error):
    """404 or 410: no such object, or it was deleted."""

class Refused(Error):
    """401 or 403, or a write with no API key: the key is missing, wrong or not allowed."""

class InvalidInput(Error):
    """The request is wrong (refused before it was sent, or a 400/422 answer)."""

class RateLimited(Error):
    """429 after the retries: `reset` is when the quota resets (seconds since the epoch), if said."""

    reset: float | None

class Transport(Error):
    """The server could not be reached, or the connection broke."""

class ServerError(Error):
    """The server failed (5xx), or answered something that could not be read."""

class ChecksumMismatch(Error):
    """A download did not match the checksum the catalog records; nothing was kept."""

class FileError(Error):
    """A local file or folder could not be read or written."""

class ConfigError(Error):
    """The client settings are wrong (an unknown environment, a bad URL, a bad config file)."""

@disjoint_base
class Item(Mapping[str, Any]):
    """One object of the catalog, as the server sent it: fields as attributes (`item.title`) or keys
    (`item["title"]`); nested objects are Items too. `to_dict()` gives plain dicts and lists."""

    def __getattr__(self, name: str) -> Any: ...
    def __getitem__(self, key: str, /) -> Any: ...
    def __iter__(self) -> Iterator[str]: ...
    def __len__(self) -> int: ...
    def __contains__(self, key: object, /) -> bool: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        """The field `key`, or `default`."""
    def to_dict(self) -> dict[str, Any]:
        """The fields as plain Python values (dicts, lists, str, int, float, bool, None)."""
    def to_json(self) -> str:
        """The fields as JSON text."""

@final
class Dataset(Item):
    """A dataset (Main API)."""

    @property
    def resources(self) -> list[Resource]:
        """The dataset's resources (files and links), with their dataset known."""

@final
class Resource(Item):
    """A resource: a file or link of a dataset."""

    @property
    def dataset_id(self) -> str | None:
        """The id of the resource's dataset, when known."""
    def download(self, path: _PathLike | None = None, *, resume: bool = True) -> Path:
        """Downloads the file to `path` (a file, or a folder to keep its name in; default: the
        current folder), checked against the catalog's checksum; an interrupted download resumes."""
    async def download_async(self, path: _PathLike | None = None, *, resume: bool = True) -> Path: ...
    def rows(
        self,
        *,
        filters: Sequence[_Filter] = ...,
        where: str | None = None,
        sort: Sequence[str] = ...,
        columns: Sequence[str] = ...,
        limit: int | None = None,
    ) -> Rows:
        """The resource's rows (Tabular API), as `Client.rows`."""

@final
class ItemIterator(Generic[_T]):
    """A list read page by page as it is iterated (nothing is asked before the first item)."""

    def __iter__(self) -> ItemIterator[_T]: ...
    def __next__(self) -> _T: ...
    @property
    def total(self) -> int | None:
        """The number of items the server announced (None before the first page)."""

@final
class AsyncItemIterator(Generic[_T]):
    """The async twin of ItemIterator (`async for`)."""

    def __aiter__(self) -> AsyncItemIterator[_T]: ...
    async def __anext__(self) -> _T: ...
    @property
    def total(self) -> int | None:
        """The number of items the server announced (None before the first page)."""

@final
class Rows:
    """Rows of a resource, a metrics model or a SQL query, as Arrow. Nothing is read until the rows
    are consumed; each consumption runs the query again. Implements the Arrow PyCapsule interface:
    `pyarrow.table(rows)`, `polars.DataFrame(rows)` and `duckdb.sql("SELECT … FROM rows")` read it
    without a copy."""

    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object:
        """The rows as an Arrow C stream (PyCapsule)."""
    @property
    def columns(self) -> list[str]:
        """The column names (asks the server for the schema if not yet known)."""
    def to_arrow(self) -> Any:
        """A pyarrow.Table (needs pyarrow)."""
    def to_pandas(self) -> Any:
        """A pandas.DataFrame (needs pandas and pyarrow)."""
    def to_polars(self) -> Any:
        """A polars.DataFrame (needs polars)."""
    def to_pylist(self) -> list[dict[str, Any]]:
        """Every row as a dict."""
    def __iter__(self) -> RowIterator: ...
    def __aiter__(self) -> AsyncRowIterator: ...

@final
class RowIterator(Iterator[dict[str, Any]]):
    """Rows as dicts, read batch by batch (`for row in rows`)."""

    def __iter__(self) -> RowIterator: ...
    def __next__(self) -> dict[str, Any]: ...

@final
class AsyncRowIterator(AsyncIterator[dict[str, Any]]):
    """Rows as dicts, read batch by batch (`async for row in rows`)."""

    def __aiter__(self) -> AsyncRowIterator: ...
    async def __anext__(self) -> dict[str, Any]: ...

@final
class Client:
    """One client for the Main, Tabular and Metrics APIs of data.gouv.fr.

    `env` picks the URLs ("prod" or "demo"); a URL given here wins. `api_key` is sent to
    data.gouv.fr's own hosts only, for writes. Every call has an `…_async` twin."""

    def __new__(
        cls,
        env: Literal["prod", "demo"] = "prod",
        *,
        main_url: str | None = None,
        tabular_url: str | None = None,
        metrics_url: str | None = None,
        api_key: str | None = None,
        cache_dir: _PathLike | None = None,
    ) -> Client: ...
    @staticmethod
    def from_env(config: _PathLike | None = None) -> Client:
        """A client set as the `datagouv` command line is: DATAGOUV_ENV, DATAGOUV_MAIN_URL,
        DATAGOUV_TABULAR_URL, DATAGOUV_METRICS_URL, DATAGOUV_API_KEY, then the config file
        (`config`, DATAGOUV_CONFIG or ~/.config/datagouv/config.toml)."""
    @property
    def main_url(self) -> str:
        """The Main API root (…/api/1)."""
    @property
    def tabular_url(self) -> str: ...
    @property
    def metrics_url(self) -> str: ...
    @property
    def has_api_key(self) -> bool: ...

    # Objects by id or slug.
    def dataset(self, id: str) -> Dataset: ...
    async def dataset_async(self, id: str) -> Dataset: ...
    def resource(self, id: str) -> Resource: ...
    async def resource_async(self, id: str) -> Resource: ...
    def organization(self, id: str) -> Item: ...
    async def organization_async(self, id: str) -> Item: ...
    def reuse(self, id: str) -> Item: ...
    async def reuse_async(self, id: str) -> Item: ...
    def dataservice(self, id: str) -> Item: ...
    async def dataservice_async(self, id: str) -> Item: ...
    def user(self, id: str) -> Item: ...
    async def user_async(self, id: str) -> Item: ...
    def discussion(self, id: str) -> Item: ...
    async def discussion_async(self, id: str) -> Item: ...
    def topic(self, id: str) -> Item: ...
    async def topic_async(self, id: str) -> Item: ...
    def me(self) -> Item: ...
    async def me_async(self) -> Item: ...

    # Lists: `q` searches words; other keyword arguments are the API's filters
    # (e.g. organization=, tag=, owner=, sort=; `for_` for `for`); `limit` stops after that many
    # items; `prefetch` pages are requested ahead of the reader.
    def datasets(
        self, q: str | None = None, *, page_size: int = 100, limit: int | None = None, prefetch: int = 4, **filters: _Scalar
    ) -> ItemIterator[Dataset]: ...
    def datasets_async(
        self, q: str | None = None, *, page_size: int = 100, limit: int | None = None, prefetch: int = 4, **filters: _Scalar
    ) -> AsyncItemIterator[Dataset]: ...
    def resources(
        self, dataset: str, q: str | None = None, *, page_size: int = 100, limit: int | None = None, prefetch: int = 4
    ) -> ItemIterator[Resource]: ...
    def resources_async(
        self, dataset: str, q: str | None = None, *, page_size: int = 100, limit: int | None = None, prefetch: int = 4
    ) -> AsyncItemIterator[Resource]: ...
    def organizations(
        self, q: str | None = None, *, page_size: int = 100, limit: int | None = None, prefetch: int = 4, **filters: _Scalar
    ) -> ItemIterator[Item]: ...
    def organizations_async(
        self, q: str | None = None, *, page_size: int = 100, limit: int | None = None, prefetch: int = 4, **filters: _Scalar
    ) -> AsyncItemIterator[Item]: ...
    def reuses(
        self, q: str | None = None, *, page_size: int = 100, limit: int | None = None, prefetch: int = 4, **filters: _Scalar
    ) -> ItemIterator[Item]: ...
    def reuses_async(
        self, q: str | None = None, *, page_size: int = 100, limit: int | None = None, prefetch: int = 4, **filters: _Scalar
    ) -> AsyncItemIterator[Item]: ...
    def dataservices(
        self, q: str | None = None, *, page_size: int = 100, limit: int | None = None, prefetch: int = 4, **filters: _Scalar
    ) -> ItemIterator[Item]: ...
    def dataservices_async(
        self, q: str | None = None, *, page_size: int = 100, limit: int | None = None, prefetch: int = 4, **filters: _Scalar
    ) -> AsyncItemIterator[Item]: ...
    def users(
        self, q: str | None = None, *, page_size: int = 100, limit: int | None = None, prefetch: int = 4, **filters: _Scalar
    ) -> ItemIterator[Item]: ...
    def users_async(
        self, q: str | None = None, *, page_size: int = 100, limit: int | None = None, prefetch: int = 4, **filters: _Scalar
    ) -> AsyncItemIterator[Item]: ...
    def discussions(
        self, q: str | None = None, *, page_size: int = 100, limit: int | None = None, prefetch: int = 4, **filters: _Scalar
    ) -> ItemIterator[Item]: ...
    def discussions_async(
        self, q: str | None = None, *, page_size: int = 100, limit: int | None = None, prefetch: int = 4, **filters: _Scalar
    ) -> AsyncItemIterator[Item]: ...
    def topics(
        self, q: str | None = None, *, page_size: int = 100, limit: int | None = None, prefetch: int = 4, **filters: _Scalar
    ) -> ItemIterator[Item]: ...
    def topics_async(
        self, q: str | None = None, *, page_size: int = 100, limit: int | None = None, prefetch: int = 4, **filters: _Scalar
    ) -> AsyncItemIterator[Item]: ...

    # Writes (need an API key).
    def create_dataset(
        self,
        title: str,
        *,
        description: str = ...,
        organization: str | None = None,
        tags: Sequence[str] = ...,
        license: str | None = None,
        frequency: str | None = None,
    ) -> Dataset: ...
    async def create_dataset_async(
        self,
        title: str,
        *,
        description: str = ...,
        organization: str | None = None,
        tags: Sequence[str] = ...,
        license: str | None = None,
        frequency: str | None = None,
    ) -> Dataset: ...
    def update_dataset(self, id: str, changes: Mapping[str, Any]) -> Dataset: ...
    async def update_dataset_async(self, id: str, changes: Mapping[str, Any]) -> Dataset: ...
    def delete_dataset(self, id: str) -> None: ...
    async def delete_dataset_async(self, id: str) -> None: ...
    def upload_resource(self, dataset: str, path: _PathLike, *, replace: str | None = None) -> Resource:
        """Uploads a file as a new resource of `dataset` (or as the new file of resource `replace`),
        streamed from disk."""
    async def upload_resource_async(
        self, dataset: str, path: _PathLike, *, replace: str | None = None
    ) -> Resource: ...
    def update_resource(self, id: str, changes: Mapping[str, Any]) -> Resource: ...
    async def update_resource_async(self, id: str, changes: Mapping[str, Any]) -> Resource: ...
    def delete_resource(self, id: str) -> None: ...
    async def delete_resource_async(self, id: str) -> None: ...
    def download(self, resource: str, path: _PathLike | None = None, *, resume: bool = True) -> Path:
        """Downloads a resource's file, checked against its checksum (see Resource.download)."""
    async def download_async(
        self, resource: str, path: _PathLike | None = None, *, resume: bool = True
    ) -> Path: ...
    def sync(
        self,
        dir: _PathLike,
        *,
        datasets: Sequence[str] = ...,
        organizations: Sequence[str] = ...,
        q: str | None = None,
        delete: bool = False,
        dry_run: bool = False,
        verify: bool = False,
        jobs: int = 4,
    ) -> dict[str, Any]:
        """Mirrors the files of datasets into `dir` (only what changed is fetched); returns the
        counts `new`, `updated`, `unchanged`, `deleted`, `gone`, `failed`, `to_check`, `bytes`, and
        `failures` (a list of {"file", "error"})."""
    async def sync_async(
        self,
        dir: _PathLike,
        *,
        datasets: Sequence[str] = ...,
        organizations: Sequence[str] = ...,
        q: str | None = None,
        delete: bool = False,
        dry_run: bool = False,
        verify: bool = False,
        jobs: int = 4,
    ) -> dict[str, Any]: ...

    # Rows (Tabular and Metrics APIs) and SQL.
    def rows(
        self,
        resource: str,
        *,
        filters: Sequence[_Filter] = ...,
        where: str | None = None,
        sort: Sequence[str] = ...,
        columns: Sequence[str] = ...,
        limit: int | None = None,
    ) -> Rows:
        """A resource's rows, every one of them (past the API's cap). `filters` as the CLI writes
        them ("col__op=value") or as (column, op, value) tuples; `where` the CLI's groups
        ("or(a__exact=1, b__less=2)"); `sort` as "col" or "col:desc"."""
    async def rows_async(
        self,
        resource: str,
        *,
        filters: Sequence[_Filter] = ...,
        where: str | None = None,
        sort: Sequence[str] = ...,
        columns: Sequence[str] = ...,
        limit: int | None = None,
    ) -> Rows: ...
    def metrics(
        self,
        model: str,
        *,
        filters: Sequence[_Filter] = ...,
        sort: Sequence[str] = ...,
        columns: Sequence[str] = ...,
        limit: int | None = None,
    ) -> Rows:
        """A Metrics API model's rows (site, datasets, organizations, reuses, resources, …)."""
    async def metrics_async(
        self,
        model: str,
        *,
        filters: Sequence[_Filter] = ...,
        sort: Sequence[str] = ...,
        columns: Sequence[str] = ...,
        limit: int | None = None,
    ) -> Rows: ...
    def sql(self, query: str) -> Rows:
        """Runs read-only SQL: tables are resource ids ("SELECT … FROM \"<rid>\"") and
        metrics.<model>; filters, columns and limits go to the server."""
    async def sql_async(self, query: str) -> Rows: ...
    def export(
        self,
        resource: str,
        path: _PathLike,
        *,
        format: Literal["csv", "json", "parquet"] | None = None,
        filters: Sequence[_Filter] = ...,
        where: str | None = None,
        sort: Sequence[str] = ...,
        columns: Sequence[str] = ...,
        resume: bool = True,
    ) -> dict[str, Any]:
        """Writes every matching row to `path` (format from `format` or the extension), under a
        partial name until complete; an interrupted export goes on from where it stopped."""
    async def export_async(
        self,
        resource: str,
        path: _PathLike,
        *,
        format: Literal["csv", "json", "parquet"] | None = None,
        filters: Sequence[_Filter] = ...,
        where: str | None = None,
        sort: Sequence[str] = ...,
        columns: Sequence[str] = ...,
        resume: bool = True,
    ) -> dict[str, Any]: ...
