//! Generates the Main API clients from `spec/v1.json` and `spec/v2.json`.

#[path = "build/codegen.rs"]
mod codegen;

fn main() {
    if std::env::var_os("CARGO_FEATURE_V1").is_some() {
        codegen::generate("v1");
    }
    if std::env::var_os("CARGO_FEATURE_V2").is_some() {
        codegen::generate("v2");
    }
}
