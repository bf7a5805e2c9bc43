//! Benchmarks of the `datagouv` SDK (issue 8): a fast local server with
//! realistic payloads ([`server`]), the SDK's scenarios (`bench-sdk`), and a
//! micro-benchmark of one small GET (`benches/small_get.rs`).
//! `scripts/bench.sh` runs them side by side with the peers; `BENCHMARKS.md`
//! holds the results.

pub mod server;
pub mod table;

/// The resource id the bench server's Tabular routes answer for (any id
/// works; this one is what the scenarios ask).
pub const BENCH_RESOURCE_ID: &str = "b0000000-0000-4000-8000-000000000001";

/// The dataset id the upload scenarios write to (the server accepts any).
pub const BENCH_DATASET_ID: &str = "b00000000000000000000001";

/// The process's peak resident memory (`VmHWM` of `/proc/self/status`), in
/// MB of 2^20 bytes (as the repository's other benchmarks, and
/// `/usr/bin/time -f %M` / 1024); 0 where unknown.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}
