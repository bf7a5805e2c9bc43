"""Turns scripts/bench.sh's raw runs (results.tsv) into the Markdown table of
medians and ratios against the targets of issue 8.

    python3 report.py target/bench/results.tsv [--prefetch 16] [--tmp /dev/shm]
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
    "export": "Tabular CSV export, 1.0 GB",
    "download": "download 1 GiB",
    "upload": "upload 1 GiB",
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
    parser.add_argument("--prefetch", default="16")
    parser.add_argument("--tmp", default="?")
    args = parser.parse_args()
    runs = load(args.results)
    reps = max((len(v) for (s, _), v in runs.items() if s in SCENARIOS), default=0)

    out = []
    out.append(
        f"Medians of {reps} runs (wall time of the whole process); peak RSS is the largest of the runs "
        "(MiB). Ratios are of medians."
    )
    out.append("")
    out.append("| scenario | " + " | ".join(NAMES[p] for p in PEERS) + " | moved |")
    out.append("| --- | " + " | ".join("---" for _ in PEERS) + " | --- |")
    for scenario, title in SCENARIOS.items():
        if not any((scenario, p) in runs for p in PEERS):
            continue
        cells = [cell(runs.get((scenario, p), [])) for p in PEERS]
        out.append(f"| {title} | " + " | ".join(cells) + f" | {moved(runs.get((scenario, 'sdk'), []))} |")

    checks = []

    def t(scenario, peer):
        return median_seconds(runs.get((scenario, peer), []))

    sdk_list, client_list, requests_list, curl_list = (t("list", p) for p in PEERS)
    if sdk_list:
        if client_list:
            ratio = client_list / sdk_list
            checks.append(
                ("list", "≥ 8× faster than datagouv-client", f"{ratio:.2f}× faster", ratio >= 8)
            )
        if requests_list:
            checks.append(
                ("list", "(for information) vs the requests loop", f"{requests_list / sdk_list:.1f}× faster", None)
            )
        spawn = t("list", "sdk-spawn")
        if spawn and curl_list:
            checks.append(
                (
                    "list",
                    "(for information) SDK with `tokio::spawn` per page in the fetch closure",
                    f"{spawn:.2f} s: {client_list / spawn:.1f}× faster than datagouv-client, {spawn / curl_list:.2f}× curl's time"
                    if client_list
                    else f"{spawn:.2f} s",
                    None,
                )
            )
        if curl_list:
            ratio = sdk_list / curl_list
            checks.append(
                ("list", "within 1.3× of curl --parallel", f"{ratio:.2f}× curl's time", ratio <= 1.3)
            )
    for scenario, floor, rss_target in [("export", 0.9, 64), ("download", 0.8, 64), ("upload", 0.8, 64)]:
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
    out.append("| scenario | target (issue 8) | measured | |")
    out.append("| --- | --- | --- | --- |")
    for scenario, target, measured, met in checks:
        out.append(f"| {scenario} | {target} | {measured} | {'' if met is None else verdict(met)} |")
    out.append("")
    out.append(f"SDK list prefetch: {args.prefetch} pages. Machine: " + "; ".join(machine(args.tmp)) + ".")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
