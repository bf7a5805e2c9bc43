"""The package README's quickstart as a script, type-checked by mypy --strict against the stubs
(scripts/python.sh). Run it against production, or against the test stack with DATAGOUV_* set:

    python crates/datagouv-py/examples/quickstart.py [RESOURCE_ID]
"""

import asyncio
import sys
from pathlib import Path

import datagouv_rs


def main(resource_id: str | None) -> None:
    client = datagouv_rs.Client.from_env()
    datasets = client.datasets(page_size=20, limit=5)
    for dataset in datasets:
        resources: list[datagouv_rs.Resource] = dataset.resources
        print(dataset.id, dataset.title, len(resources))
    print("announced:", datasets.total)
    try:
        client.dataset("no-such-dataset-slug")
    except datagouv_rs.NotFound as error:
        print("not found:", error.status, error.hint)
    if resource_id is None:
        return
    rows = client.rows(resource_id, limit=1_000)
    print("columns:", rows.columns)
    for row in client.rows(resource_id, limit=3):
        print(row)
    summary = client.export(resource_id, Path("rows.csv"), resume=True)
    print("exported", summary["rows"], "rows")
    print(asyncio.run(count_async(client, resource_id)), "rows read asynchronously")


async def count_async(client: datagouv_rs.Client, resource_id: str) -> int:
    rows = await client.rows_async(resource_id, limit=100)
    count = 0
    async for _ in rows:
        count += 1
    return count


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
