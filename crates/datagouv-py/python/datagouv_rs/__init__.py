"""data.gouv.fr from Python: the catalog, files, rows and SQL of its three APIs.

    >>> import datagouv_rs
    >>> client = datagouv_rs.Client()            # or Client.from_env(), Client("demo", api_key=...)
    >>> client.dataset("5c4ae55a634f4117716d5656").title
    >>> for org in client.organizations(q="santé", limit=10): print(org.name)
    >>> table = pyarrow.table(client.rows("<resource id>", filters=["dep__exact=75"]))
    >>> client.sql('SELECT region, count(*) FROM "<resource id>" GROUP BY region').to_pandas()

Every call has an ``…_async`` twin; errors are subclasses of :class:`Error`.
"""

from collections.abc import Mapping as _Mapping

from ._native import (
    AsyncItemIterator,
    ChecksumMismatch,
    Client,
    ConfigError,
    Dataset,
    Error,
    FileError,
    InvalidInput,
    Item,
    ItemIterator,
    NotFound,
    RateLimited,
    Refused,
    Resource,
    Rows,
    ServerError,
    Transport,
    __version__,
)

# Items read like read-only dicts.
_Mapping.register(Item)

__all__ = [
    "AsyncItemIterator",
    "ChecksumMismatch",
    "Client",
    "ConfigError",
    "Dataset",
    "Error",
    "FileError",
    "InvalidInput",
    "Item",
    "ItemIterator",
    "NotFound",
    "RateLimited",
    "Refused",
    "Resource",
    "Rows",
    "ServerError",
    "Transport",
    "__version__",
]
