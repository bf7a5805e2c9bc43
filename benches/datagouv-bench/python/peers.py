"""The Python peers of the benchmark, one scenario per run, against the bench server.

    python peers.py client   list|download|upload|sync URL [--out FILE|DIR] [--file FILE]
    python peers.py client   sql|rows TABULAR_URL --rid RID [--out FILE] [--max-seconds S]
    python peers.py requests list|export|download|upload URL [--out FILE] [--file FILE]
    python peers.py rs-python list URL [--prefetch N]
    python peers.py rs-python rows TABULAR_URL --rid RID

`client` is the official Python client, datagouv-client 0.5.1, used through its public
API as its README shows (`Client.get_all_from_api_query`, `Resource.download`,
`Client.create_static_resource`, `Dataset.download_resources` for the sync: every file
again, one after the other); its base URL, fixed to production, is pointed at
the bench server. It has no CSV export (its Tabular support is `Resource.rows()`,
JSON pages of rows, with the production Tabular URL fixed), so that scenario
exits with status 3 ("not supported"). Its `sql` scenario is the analyst's path with it
(issue 23): `Resource.rows()` (JSON pages of the API's default size, following
`links.next`) into a pandas DataFrame, then `groupby("region")` with count, sum, mean,
min and max of `montant`; its Tabular URL is pointed at the local api-tabular. `--out`
writes the groups as CSV (the harness compares them with `datagouv sql`'s). Its `rows`
scenario is the same read into a pandas DataFrame, without the `groupby` (issue 24).

`requests` is a plain loop as in the APIs' own examples: `requests.get` page after
page following `next_page`; `stream=True` and `iter_content(8192)` for files; the
export in `__id` windows of 50,000 rows (the Tabular API refuses more in one
answer), the header kept once; `files={"file": ...}` for an upload.

`rs-python` is ours from Python, `datagouv_rs` (crates/datagouv-py, issue 24), used as
its README shows: `Client(main_url=…)` and its lazy iterator `client.datasets(page_size=100)`
for the list (the same count as `client`'s: datasets and their resources; `--prefetch N`
passes `prefetch=N`, else the iterator's default); for `rows`,
`client.rows(rid).to_pandas()` (every row, past the API's cap, as Arrow, then pandas).

Prints `seconds=… peak_rss_mb=…` and what was moved.
"""

import argparse
from pathlib import Path
import resource
import sys
import time

DATASET = "b00000000000000000000001"
SYNC_DATASET = "b00000000000000000000002"
RESOURCE = "b0000000-0000-4000-8000-000000000001"
API_KEY = "bench-api-key"
EXPORT_CAP = 50_000


def client_list(url, args):
    from datagouv import Client

    client = Client("www", verbose=False)
    client.base_url = url
    items = resources = 0
    for dataset in client.get_all_from_api_query("api/1/datasets/?page_size=100"):
        items += 1
        resources += len(dataset["resources"])
    return f"items={items} resources={resources}"


def client_download(url, args):
    from datagouv import Client, Resource

    client = Client("www", verbose=False)
    client.base_url = url
    big = Resource(
        "b2000000-0000-4000-8000-000000000001",
        dataset_id=DATASET,
        _client=client,
        _from_response={"url": f"{url}/files/big.bin", "title": "big.bin", "format": "bin"},
    )
    path = big.download(args.out)
    return f"bytes={path.stat().st_size}"


def client_upload(url, args):
    from datagouv import Client

    client = Client("www", api_key=API_KEY, verbose=False)
    client.base_url = url
    created = client.create_static_resource(
        file_to_upload=args.file, payload={"title": "big.bin"}, dataset_id=DATASET
    )
    return f"bytes={created.filesize}"


def client_sync(url, args):
    from datagouv import Client, Dataset

    client = Client("www", verbose=False)
    client.base_url = url
    dataset = Dataset(SYNC_DATASET, _client=client)
    dataset.download_resources(folder=args.out)
    files = list(Path(args.out).iterdir())
    return f"files={len(files)} bytes={sum(f.stat().st_size for f in files)}"


def client_rows_read(url, args):
    """datagouv-client's `Resource.rows()` of `args.rid` on the api-tabular at `url`, read
    into a list; `(rows, partial)`, partial when stopped at `--max-seconds`."""
    from datagouv import Client, Resource

    client = Client("www", verbose=False)
    resource = Resource(
        args.rid,
        dataset_id="d00000000000000000000023",
        _client=client,
        _from_response={"title": "sql_bench", "format": "csv", "url": f"{url}/sql-bench.csv"},
    )
    # Fixed to production's Tabular API otherwise.
    resource.tabular_api_url = f"{url}/api/resources/{args.rid}/"
    rows = resource.rows()
    if not args.max_seconds:
        return rows, False
    # A bounded run: the rows read in that time (the harness reports a lower
    # bound of the whole run's time, never an extrapolation).
    deadline = time.perf_counter() + args.max_seconds
    kept = []
    for row in rows:
        kept.append(row)
        if time.perf_counter() > deadline:
            return kept, True
    return kept, False


def client_rows(url, args):
    import pandas as pd

    rows, partial = client_rows_read(url, args)
    if partial:
        return f"rows={len(rows)} partial=1"
    frame = pd.DataFrame(rows)
    return f"rows={len(frame)} columns={len(frame.columns)}"


def client_sql(url, args):
    import pandas as pd

    rows, partial = client_rows_read(url, args)
    if partial:
        return f"rows={len(rows)} partial=1"
    frame = pd.DataFrame(rows)
    groups = frame.groupby("region")["montant"].agg(["count", "sum", "mean", "min", "max"])
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            out.write("region,n,total,moyenne,min,max\n")
            for region, row in groups.sort_index().iterrows():
                out.write(
                    f"{region},{int(row['count'])},{row['sum']!r},{row['mean']!r},{row['min']!r},{row['max']!r}\n"
                )
    return f"rows={len(frame)} groups={len(groups)}"


def rs_python_list(url, args):
    import datagouv_rs

    client = datagouv_rs.Client(main_url=url)
    options = {} if args.prefetch is None else {"prefetch": args.prefetch}
    items = resources = 0
    for dataset in client.datasets(page_size=100, **options):
        items += 1
        resources += len(dataset.resources)
    return f"items={items} resources={resources}"


def rs_python_rows(url, args):
    import datagouv_rs

    client = datagouv_rs.Client(main_url=url, tabular_url=url)
    frame = client.rows(args.rid).to_pandas()
    return f"rows={len(frame)} columns={len(frame.columns)}"


def requests_list(url, args):
    import requests

    items = resources = 0
    next_url = f"{url}/api/1/datasets/?page_size=100"
    while next_url:
        r = requests.get(next_url)
        r.raise_for_status()
        page = r.json()
        for dataset in page["data"]:
            items += 1
            resources += len(dataset["resources"])
        next_url = page["next_page"]
    return f"items={items} resources={resources}"


def requests_export(url, args):
    import requests

    base = f"{url}/api/resources/{RESOURCE}"
    edge = lambda order: requests.get(  # noqa: E731
        f"{base}/data/", params={"__id__sort": order, "page_size": 1}
    ).json()["data"][0]["__id"]
    low, high = edge("asc"), edge("desc")
    written = 0
    with open(args.out, "wb") as out:
        for start in range(low, high + 1, EXPORT_CAP):
            window = {"__id__greater": start, "__id__less": min(start + EXPORT_CAP - 1, high)}
            with requests.get(f"{base}/data/csv/", params=window, stream=True) as r:
                r.raise_for_status()
                header_seen = start == low
                for chunk in r.iter_content(chunk_size=8192):
                    if not header_seen:
                        newline = chunk.find(b"\n")
                        if newline < 0:
                            continue
                        chunk, header_seen = chunk[newline + 1 :], True
                    written += out.write(chunk)
    return f"bytes={written}"


def requests_download(url, args):
    import requests

    written = 0
    with requests.get(f"{url}/files/big.bin", stream=True) as r:
        r.raise_for_status()
        with open(args.out, "wb") as out:
            for chunk in r.iter_content(chunk_size=8192):
                written += out.write(chunk)
    return f"bytes={written}"


def requests_upload(url, args):
    import requests

    with open(args.file, "rb") as f:
        r = requests.post(
            f"{url}/api/1/datasets/{DATASET}/upload/",
            files={"file": f},
            headers={"X-API-KEY": API_KEY},
        )
    r.raise_for_status()
    return f"bytes={r.json()['filesize']}"


SCENARIOS = {
    ("client", "list"): client_list,
    ("client", "download"): client_download,
    ("client", "upload"): client_upload,
    ("client", "sync"): client_sync,
    ("client", "sql"): client_sql,
    ("client", "rows"): client_rows,
    ("requests", "list"): requests_list,
    ("requests", "export"): requests_export,
    ("requests", "download"): requests_download,
    ("requests", "upload"): requests_upload,
    ("rs-python", "list"): rs_python_list,
    ("rs-python", "rows"): rs_python_rows,
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("peer", choices=["client", "requests", "rs-python"])
    parser.add_argument("scenario", choices=["list", "export", "download", "upload", "sync", "sql", "rows"])
    parser.add_argument("url")
    parser.add_argument("--out")
    parser.add_argument("--file")
    parser.add_argument("--rid")
    parser.add_argument("--max-seconds", type=float)
    parser.add_argument("--prefetch", type=int)
    args = parser.parse_args()
    run = SCENARIOS.get((args.peer, args.scenario))
    if run is None:
        print(f"{args.peer}: {args.scenario} is not supported", file=sys.stderr)
        sys.exit(3)
    started = time.perf_counter()
    what = run(args.url.rstrip("/"), args)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"seconds={seconds:.3f} peak_rss_mb={peak:.1f} {what}")


if __name__ == "__main__":
    main()
