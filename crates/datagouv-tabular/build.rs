//! Generates the tabular client from `spec/tabular.json`.

#[path = "build/codegen.rs"]
mod codegen;

fn main() {
    codegen::generate("tabular");
}
