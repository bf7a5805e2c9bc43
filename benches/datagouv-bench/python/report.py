"""Turns scripts/bench.sh's raw runs (results.tsv) into the Markdown tables of
medians and ratios against the targets of issues 8, 15, 23 and 24.

    python3 report.py target/bench/results.tsv [--checks target/bench/checks.tsv]
        [--prefetch 16] [--tmp /dev/shm]
"""

import argparse
import csv
import os
import platform
import statistics
import subprocess
import sys
from collections import defaultdict

PEERS = ["sdk", "client", "requests", "curl"]
NAMES = {
    "sdk": "datagouv (Rust)",
    "client": "datagouv-client 0.5.1",
    "requests": "requests loop",
    "curl": "curl",
}
SCENARIOS = {
    "list": "list 20,000 datasets (200 pages of 100, 20 ms per answer)",
    "download": "download 1 GiB",
    "upload": "upload 1 GiB",
}
# The export (issue 15): every client fetches the SDK's windows.
EXPORT_PEERS = ["sdk-seq", "sdk", "sdk-parquet", "sdk-sorted", "curl-seq", "curl-par2", "requests"]
EXPORT_NAMES = {
    "sdk-seq": "SDK, 1 window in flight",
    "sdk": "SDK default (2 in flight)",
    "sdk-parquet": "SDK Parquet (default)",
    "sdk-sorted": "SDK sorted (default)",
    "curl-seq": "curl, windows one after another",
    "curl-par2": "curl, 2 in flight",
    "requests": "requests loop",
}
# The SQL scenario (issue 23): a GROUP BY over 300,000 rows of the local api-tabular.
SQL_PEERS = [
    ("sql", "`datagouv sql` (GROUP BY in DataFusion)"),
    ("export", "`datagouv tabular export` of the same rows (CSV)"),
    ("client", "datagouv-client 0.5.1 `rows()` + pandas `groupby`"),
]
# The Python scenario (issue 24): datagouv_rs vs datagouv-client vs the Rust SDK.
PYTHON_PEERS = [
    ("rs-python", "datagouv_rs (Python)"),
    ("rs-python-prefetch", "datagouv_rs, the SDK's prefetch"),
    ("client", "datagouv-client 0.5.1"),
    ("sdk", "datagouv (Rust)"),
    ("sdk-parquet", "datagouv (Rust), Parquet export"),
]
PYTHON_SCENARIOS = {
    "python_list": "list 20,000 datasets (200 pages of 100, 20 ms per answer)",
    "python_rows": "300,000 rows of api-tabular into a pandas DataFrame",
}
EXPORTS = {
    "export": "bench server (CSV, 1.0 GB)",
    "export_tabular": "local api-tabular 0.4.1",
}


def load(path):
    runs = defaultdict(list)
    with open(path, newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            runs[(row["scenario"], row["peer"])].append(row)
    return runs


def ok(rows):
    return [r for r in rows if r["status"] == "ok"]


def median_seconds(rows):
    rows = ok(rows)
    return statistics.median(float(r["seconds"]) for r in rows) if rows else None


def peak_mib(rows):
    rows = ok(rows)
    values = [int(r["peak_rss_kib"]) / 1024 for r in rows if r["peak_rss_kib"]]
    return max(values) if values else None


def moved(rows):
    values = {r["moved"] for r in ok(rows) if r["moved"]}
    return values.pop() if len(values) == 1 else (", ".join(sorted(values)) or "")


def cell(rows):
    if not rows:
        return "not run"
    if all(r["status"] == "unsupported" for r in rows):
        return "n/a: cannot"
    seconds = median_seconds(rows)
    if seconds is None:
        return "failed"
    text = f"{seconds:.2f} s"
    peak = peak_mib(rows)
    if peak is not None:
        text += f", {peak:.0f} MiB"
    failed = len(rows) - len(ok(rows))
    if failed:
        text += f" ({failed} failed)"
    return text


def windows_of(rows):
    """The window count in what a run moved (`windows=N`), if any."""
    for r in ok(rows):
        for part in r["moved"].split():
            if part.startswith("windows="):
                return part.split("=", 1)[1]
    return None


def verdict(met):
    return "**met**" if met else "**missed**"


def machine(tmp):
    def run(*cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
        except OSError:
            return "?"

    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = "?"
    try:
        with open("/proc/meminfo") as f:
            kib = int(next(line.split()[1] for line in f if line.startswith("MemTotal")))
            memory = f"{kib / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    load = "?"
    try:
        load = open("/proc/loadavg").read().split()[0]
    except OSError:
        pass
    return [
        f"{os.cpu_count()} cores ({cpu}), {memory} RAM, {platform.system()} {platform.release()}",
        f"{run('rustc', '--version')}; {' '.join(run('curl', '--version').split()[:2]) or 'curl ?'}; Python {platform.python_version()} (peers in benches/.venv)",
        f"files written to {tmp}; load average at the end: {load}",
    ]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("results")
    parser.add_argument("--checks")
    parser.add_argument("--prefetch", default="16")
    parser.add_argument("--tmp", default="?")
    args = parser.parse_args()
    runs = load(args.results)
    reps = max((len(v) for (s, _), v in runs.items() if s in SCENARIOS or s in EXPORTS or s in PYTHON_SCENARIOS or s == "sql"), default=0)

    out = []
    out.append(
        f"Medians of {reps} runs (wall time of the whole process); peak RSS is the largest of the runs "
        "(MiB). Ratios are of medians."
    )
    shown = [s for s in SCENARIOS if any((s, p) in runs for p in PEERS)]
    if shown:
        out.append("")
        out.append("| scenario | " + " | ".join(NAMES[p] for p in PEERS) + " | moved |")
        out.append("| --- | " + " | ".join("---" for _ in PEERS) + " | --- |")
    for scenario in shown:
        title = SCENARIOS[scenario]
        cells = [cell(runs.get((scenario, p), [])) for p in PEERS]
        out.append(f"| {title} | " + " | ".join(cells) + f" | {moved(runs.get((scenario, 'sdk'), []))} |")

    sync_peers = [("sdk-first", "SDK, first run"), ("sdk-rerun", "SDK, re-run (nothing changed)"), ("client", "datagouv-client 0.5.1 `download_resources`")]
    if any(("sync", p) in runs for p, _ in sync_peers):
        out.append("")
        out.append("| sync of 100 files of 1 MiB | time, peak RSS | moved |")
        out.append("| --- | --- | --- |")
        for peer, title in sync_peers:
            if ("sync", peer) in runs:
                out.append(f"| {title} | {cell(runs[('sync', peer)])} | {moved(runs[('sync', peer)])} |")

    if any(("sql", p) in runs for p, _ in SQL_PEERS):
        out.append("")
        out.append("| GROUP BY over 300,000 rows (local api-tabular 0.4.1) | time, peak RSS | moved |")
        out.append("| --- | --- | --- |")
        for peer, title in SQL_PEERS:
            if ("sql", peer) in runs:
                out.append(f"| {title} | {cell(runs[('sql', peer)])} | {moved(runs[('sql', peer)])} |")

    shown = [s for s in PYTHON_SCENARIOS if any((s, p) in runs for p, _ in PYTHON_PEERS)]
    if shown:
        peers = [(p, title) for p, title in PYTHON_PEERS if any((s, p) in runs for s in shown)]
        out.append("")
        out.append("| Python (issue 24) | " + " | ".join(title for _, title in peers) + " | moved (datagouv_rs) |")
        out.append("| --- | " + " | ".join("---" for _ in peers) + " | --- |")
        for scenario in shown:
            cells = [cell(runs[(scenario, p)]) if (scenario, p) in runs else "" for p, _ in peers]
            out.append(
                f"| {PYTHON_SCENARIOS[scenario]} | " + " | ".join(cells)
                + f" | {moved(runs.get((scenario, 'rs-python'), []))} |"
            )

    checks = []

    def t(scenario, peer):
        return median_seconds(runs.get((scenario, peer), []))

    exports = [e for e in EXPORTS if any((e, p) in runs for p in EXPORT_PEERS)]
    if exports:
        peers = [p for p in EXPORT_PEERS if any((e, p) in runs for e in exports)]
        out.append("")
        out.append("| Tabular export | " + " | ".join(EXPORT_NAMES[p] for p in peers) + " | moved (SDK default) |")
        out.append("| --- | " + " | ".join("---" for _ in peers) + " | --- |")
        for e in exports:
            cells = [cell(runs.get((e, p), [])) for p in peers]
            title = EXPORTS[e]
            windows = windows_of(runs.get((e, "sdk"), []))
            if windows:
                title = f"{title[:-1]}, {windows} windows)" if title.endswith(")") else f"{title} ({windows} windows)"
            out.append(f"| {title} | " + " | ".join(cells) + f" | {moved(runs.get((e, 'sdk'), []))} |")
    for e in exports:
        name = "export" if e == "export" else "export (api-tabular)"
        seq, default, parquet, sorted_ = (t(e, p) for p in ["sdk-seq", "sdk", "sdk-parquet", "sdk-sorted"])
        curl_seq, curl_par = t(e, "curl-seq"), t(e, "curl-par2")
        if seq and curl_seq:
            ratio = curl_seq / seq
            checks.append(
                (name, "sequential ≥ 0.9× curl's throughput on the same windows",
                 f"{ratio:.2f}× ({seq:.2f} s vs {curl_seq:.2f} s)", ratio >= 0.9)
            )
        if default and curl_seq:
            checks.append(
                (name, "default (2 in flight) faster than curl's sequential windows",
                 f"{curl_seq / default:.2f}× curl's throughput ({default:.2f} s vs {curl_seq:.2f} s)",
                 default < curl_seq)
            )
        if default and curl_par:
            checks.append(
                (name, "(for information) default vs curl, 2 in flight",
                 f"{curl_par / default:.2f}× its throughput ({curl_par:.2f} s)", None)
            )
        if sorted_ and default:
            ratio = sorted_ / default
            checks.append((name, "sorted ≤ 1.5× the unsorted time", f"{ratio:.2f}× ({sorted_:.2f} s)", ratio <= 1.5))
        if parquet and default:
            ratio = parquet / default
            checks.append((name, "Parquet ≤ 1.5× the CSV time", f"{ratio:.2f}× ({parquet:.2f} s)", ratio <= 1.5))
        plan, plan_sorted = t(e, "sdk-plan"), t(e, "sdk-plan-sorted")
        if plan and seq:
            checks.append(
                (name, "(for information) planning alone (`export-plan`: count, first and last `__id`)",
                 f"{plan:.2f} s ({plan / seq:.0%} of the sequential export)", None)
            )
        if plan_sorted and sorted_:
            checks.append(
                (name, "(for information) planning the sorted export alone (count, a keyset probe per window)",
                 f"{plan_sorted:.2f} s ({plan_sorted / sorted_:.0%} of the sorted export)", None)
            )
        req = t(e, "requests")
        if req and default:
            checks.append((name, "(for information) default vs the requests loop", f"{req / default:.2f}× its throughput", None))
        peaks = [
            (peak_mib(runs.get((e, p), [])), p) for p in ["sdk-seq", "sdk", "sdk-parquet", "sdk-sorted"]
        ]
        peaks = [(v, p) for v, p in peaks if v is not None]
        if peaks:
            top, which = max(peaks)
            checks.append(
                (name, "peak RSS ≤ 64 MB, every SDK export",
                 f"{top:.1f} MiB at most ({EXPORT_NAMES[which]})", top <= 64)
            )

    sql, sql_export, sql_client = (t("sql", p) for p in ("sql", "export", "client"))
    if sql and sql_export:
        ratio = sql / sql_export
        checks.append(("sql", "GROUP BY ≤ 1.2× the export of the same rows", f"{ratio:.2f}× ({sql:.2f} s vs {sql_export:.2f} s)", ratio <= 1.2))
    if sql and sql_client:
        ratio = sql_client / sql
        # A Python run stopped at its time limit (`partial=1`) read part of the rows: its whole time is longer.
        partial = any("partial=" in r["moved"] for r in ok(runs.get(("sql", "client"), [])))
        bound = "≥ " if partial else ""
        note = ", stopped at its time limit before reading every row" if partial else ""
        checks.append(("sql", "≥ 10× faster than datagouv-client `rows()` + pandas", f"{bound}{ratio:.1f}× faster ({bound}{sql_client:.2f} s{note})", ratio >= 10))
    sql_peak = peak_mib(runs.get(("sql", "sql"), []))
    if sql_peak is not None:
        checks.append(("sql", "peak RSS ≤ 128 MB", f"{sql_peak:.1f} MiB", sql_peak <= 128))

    sdk_list, client_list, requests_list, curl_list = (t("list", p) for p in PEERS)
    mimalloc_list = t("list", "sdk-mimalloc")
    for label, sdk in [("system allocator", sdk_list), ("mimalloc", mimalloc_list)]:
        if not sdk:
            continue
        name = f"list ({label})"
        if client_list:
            ratio = client_list / sdk
            checks.append((name, "≥ 10× faster than datagouv-client", f"{ratio:.2f}× faster", ratio >= 10))
        if requests_list:
            checks.append(
                (name, "(for information) vs the requests loop", f"{requests_list / sdk:.1f}× faster", None)
            )
        if curl_list:
            ratio = sdk / curl_list
            checks.append(
                (name, "≤ 1.5× curl --parallel's time (goal 1.3×)", f"{ratio:.2f}× ({sdk:.2f} s vs {curl_list:.2f} s)", ratio <= 1.5)
            )
    # The targets compare like with like: datagouv_rs with the Rust SDK peer's prefetch. The
    # iterator's default (4 pages ahead, gentler on the server) is reported for information.
    py_list, py_client_list, py_sdk_list = (t("python_list", p) for p in ("rs-python-prefetch", "client", "sdk"))
    if py_list and py_client_list:
        ratio = py_client_list / py_list
        checks.append(
            ("python list", f"datagouv_rs (`prefetch={args.prefetch}`) ≥ 10× faster than datagouv-client `get_all_from_api_query`",
             f"{ratio:.1f}× faster ({py_list:.2f} s vs {py_client_list:.2f} s)", ratio >= 10)
        )
    if py_list and py_sdk_list:
        ratio = py_list / py_sdk_list
        checks.append(
            ("python list", f"datagouv_rs ≤ 1.15× the Rust SDK's time (both prefetch {args.prefetch})",
             f"{ratio:.2f}× ({py_list:.2f} s vs {py_sdk_list:.2f} s)", ratio <= 1.15)
        )
    py_list_default = t("python_list", "rs-python")
    if py_list_default and py_sdk_list and py_client_list:
        checks.append(
            ("python list", "(for information) datagouv_rs with its default `prefetch=4`",
             f"{py_list_default:.2f} s: {py_client_list / py_list_default:.1f}× faster than datagouv-client, "
             f"{py_list_default / py_sdk_list:.2f}× the Rust SDK's time", None)
        )
    py_rows, py_client_rows, py_parquet = (t("python_rows", p) for p in ("rs-python", "client", "sdk-parquet"))
    if py_rows and py_client_rows:
        ratio = py_client_rows / py_rows
        partial = any("partial=" in r["moved"] for r in ok(runs.get(("python_rows", "client"), [])))
        bound = "≥ " if partial else ""
        note = ", stopped at its time limit before reading every row" if partial else ""
        checks.append(
            ("python rows", "datagouv_rs `rows().to_pandas()` ≥ 20× faster than datagouv-client `rows()` into pandas",
             f"{bound}{ratio:.1f}× faster ({py_rows:.2f} s vs {bound}{py_client_rows:.2f} s{note})", ratio >= 20)
        )
    if py_rows and py_parquet:
        checks.append(
            ("python rows", "(for information) vs the Rust SDK's Parquet export of the same rows",
             f"{py_rows / py_parquet:.2f}× its time ({py_parquet:.2f} s)", None)
        )
    first, rerun, client_sync = (t("sync", p) for p in ("sdk-first", "sdk-rerun", "client"))
    if rerun and client_sync:
        ratio = client_sync / rerun
        checks.append(("sync", "unchanged re-run ≥ 20× faster than datagouv-client's run", f"{ratio:.1f}× ({rerun:.3f} s vs {client_sync:.2f} s)", ratio >= 20))
    if first and client_sync:
        checks.append(("sync", "(for information) first run vs datagouv-client", f"{client_sync / first:.1f}× faster ({first:.2f} s vs {client_sync:.2f} s)", None))
    for scenario, floor, rss_target in [("download", 0.8, 64), ("upload", 0.8, 64)]:
        sdk, curl = t(scenario, "sdk"), t(scenario, "curl")
        if not sdk:
            continue
        if curl:
            ratio = curl / sdk
            checks.append(
                (scenario, f"≥ {floor}× curl's throughput", f"{ratio:.2f}× ({curl:.2f} s vs {sdk:.2f} s)", ratio >= floor)
            )
        req = t(scenario, "requests")
        if req:
            checks.append((scenario, "(for information) vs the requests loop", f"{req / sdk:.2f}× its throughput", None))
        cli = t(scenario, "client")
        if cli:
            checks.append((scenario, "(for information) vs datagouv-client", f"{cli / sdk:.2f}× its throughput", None))
        peak = peak_mib(runs.get((scenario, "sdk"), []))
        if peak is not None:
            checks.append((scenario, f"peak RSS ≤ {rss_target} MB", f"{peak:.1f} MiB", peak <= rss_target))

    sdk_get, raw_get = t("small_get", "sdk"), t("small_get", "reqwest")
    if sdk_get and raw_get:
        ratio = sdk_get / raw_get
        checks.append(
            (
                "small GET",
                "≤ 1.15× raw reqwest",
                f"{ratio:.2f}× ({sdk_get * 1e6:.1f} µs vs {raw_get * 1e6:.1f} µs, criterion medians)",
                ratio <= 1.15,
            )
        )
    cold_sdk, cold_floor = t("build_cold", "sdk"), t("build_cold", "floor")
    if cold_sdk and cold_floor:
        ratio = cold_sdk / cold_floor
        n = len(runs[("build_cold", "sdk")])
        checks.append(
            (
                "cold build",
                "≤ 2.0× the reqwest+serde+tokio hello world",
                f"{ratio:.2f}× ({cold_sdk:.0f} s vs {cold_floor:.0f} s, {n} run{'s' if n > 1 else ''})",
                ratio <= 2.0,
            )
        )
    incremental = t("build_incremental", "sdk")
    if incremental:
        checks.append(
            (
                "incremental build",
                "≤ 10 s after touching the facade (`touch crates/datagouv/src/lib.rs`)",
                f"{incremental:.1f} s",
                incremental <= 10,
            )
        )

    crate_only = t("build_crate_only", "sdk")
    if crate_only:
        checks.append(
            (
                "incremental build",
                "(for information) the facade crate rebuilt without its incremental cache",
                f"{crate_only:.1f} s",
                None,
            )
        )

    out.append("")
    out.append("| scenario | target (issues 8, 15, 23, 24) | measured | |")
    out.append("| --- | --- | --- | --- |")
    for scenario, target, measured, met in checks:
        out.append(f"| {scenario} | {target} | {measured} | {'' if met is None else verdict(met)} |")
    if args.checks and os.path.exists(args.checks):
        with open(args.checks, newline="") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
        if rows:
            out.append("")
            out.append("| check (once, untimed) | | |")
            out.append("| --- | --- | --- |")
            for r in rows:
                out.append(f"| {r['check']} | {r['verdict']} | {r['detail']} |")
    out.append("")
    out.append(f"SDK list prefetch: {args.prefetch} pages. Machine: " + "; ".join(machine(args.tmp)) + ".")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
