//! `bench-sdk` with mimalloc as the program's global allocator, the choice
//! of allocation-heavy Rust programs: listing decodes pages on the worker
//! threads and the consumer frees the items, and glibc's malloc makes those
//! cross-thread frees contend (BENCHMARKS.md shows both).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "bench-sdk.rs"]
mod sdk;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    sdk::main()
}
