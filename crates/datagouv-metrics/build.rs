//! Generates the metrics client from `spec/metrics.json`.

#[path = "build/codegen.rs"]
mod codegen;

fn main() {
    codegen::generate("metrics");
}
