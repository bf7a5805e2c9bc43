//! Reads, from the Main API specs the clients are generated from, the query
//! parameters of each list the package exposes, so that an unknown filter
//! is refused before any request and the list follows the spec when it is
//! regenerated (`cargo xtask`).

use std::{env, fs, path::Path};

/// (family, spec, path of its list).
const LISTS: &[(&str, &str, &str)] = &[
    ("datasets", "v1", "/datasets/"),
    ("organizations", "v1", "/organizations/"),
    ("reuses", "v1", "/reuses/"),
    ("dataservices", "v1", "/dataservices/"),
    ("users", "v1", "/users/"),
    ("discussions", "v1", "/discussions/"),
    ("topics", "v2", "/topics/"),
    ("resources", "v2", "/datasets/{dataset}/resources/"),
];

fn main() {
    let spec_dir = Path::new("../datagouv-main/spec");
    let mut out = String::from(
        "/// The query parameters of each list, from the Main API specs.\n\
         pub(crate) fn list_parameters(family: &str) -> &'static [&'static str] {\n    match family {\n",
    );
    for (family, version, path) in LISTS {
        let file = spec_dir.join(format!("{version}.json"));
        println!("cargo::rerun-if-changed={}", file.display());
        let spec: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&file).expect("the Main API spec"))
                .expect("the Main API spec is JSON");
        let names = query_parameters(&spec, path);
        assert!(!names.is_empty(), "{version} {path} has no query parameter");
        out.push_str(&format!("        {family:?} => &{names:?},\n"));
    }
    out.push_str("        _ => &[],\n    }\n}\n");
    let dest = Path::new(&env::var("OUT_DIR").expect("OUT_DIR")).join("list_parameters.rs");
    fs::write(dest, out).expect("write list_parameters.rs");
}

/// The `in: query` parameters of `GET path`, references resolved.
fn query_parameters(spec: &serde_json::Value, path: &str) -> Vec<String> {
    let item = &spec["paths"][path];
    let mut names = Vec::new();
    let operation = item["get"]["parameters"].as_array().into_iter().flatten();
    for parameter in operation.chain(item["parameters"].as_array().into_iter().flatten()) {
        let parameter = match parameter["$ref"].as_str() {
            Some(reference) => {
                let name = reference.rsplit('/').next().unwrap_or_default();
                let shared = &spec["parameters"][name];
                if shared.is_null() {
                    &spec["components"]["parameters"][name]
                } else {
                    shared
                }
            }
            None => parameter,
        };
        if parameter["in"] == "query"
            && let Some(name) = parameter["name"].as_str()
        {
            names.push(name.to_owned());
        }
    }
    names
}
