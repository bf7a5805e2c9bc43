//! Every tool's input schema in the form the strictest MCP clients accept:
//! walked node by node, failing on any `$ref`/`$defs`, `anyOf`/`oneOf`/
//! `allOf`, type arrays or `null` types (optional means absent from
//! `required`), a `format` those dialects do not know (`uint64`), a closed
//! set left as free text, or a property without a description.

use serde_json::{Map, Value};

use super::DatagouvMcp;

/// Keywords the strict dialects refuse or that break single-type schemas.
const FORBIDDEN: [&str; 9] = [
    "$ref",
    "$defs",
    "definitions",
    "$dynamicRef",
    "anyOf",
    "oneOf",
    "allOf",
    "not",
    "nullable",
];

/// Property names whose values form a closed set: they must be `enum`s.
const CLOSED: [&str; 13] = [
    "sort",
    "operator",
    "filter_operator",
    "direction",
    "sort_direction",
    "function",
    "format",
    "model",
    "badge",
    "last_update_range",
    "mode",
    "type",
    "element_kind",
];

/// The violations of `schema` (a tool's input schema), each naming where.
pub(crate) fn violations(schema: &Map<String, Value>) -> Vec<String> {
    let mut found = Vec::new();
    if schema.get("type") != Some(&Value::String("object".into())) {
        found.push("the root is not of type object".to_owned());
    }
    node(schema, "", &mut found);
    found
}

fn node(schema: &Map<String, Value>, at: &str, found: &mut Vec<String>) {
    let here = if at.is_empty() { "(root)" } else { at };
    for key in FORBIDDEN {
        if schema.contains_key(key) {
            found.push(format!("{here}: `{key}`"));
        }
    }
    let kind = match schema.get("type") {
        Some(Value::String(kind)) if kind != "null" => kind.as_str(),
        Some(other) => {
            found.push(format!("{here}: type {other} is not one type"));
            return;
        }
        None => {
            found.push(format!("{here}: no type"));
            return;
        }
    };
    if let Some(format) = schema.get("format") {
        // Only the string formats the strict dialects know.
        let known = kind == "string" && matches!(format.as_str(), Some("date-time" | "date"));
        if !known {
            found.push(format!("{here}: format {format} on a {kind}"));
        }
    }
    if let Some(values) = schema.get("enum") {
        let strings = values
            .as_array()
            .is_some_and(|v| !v.is_empty() && v.iter().all(Value::is_string));
        if kind != "string" || !strings {
            found.push(format!(
                "{here}: enum {values} is not a list of strings of type string"
            ));
        }
    }
    match kind {
        "object" => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let free_form = schema.get("additionalProperties") == Some(&Value::Bool(true));
            match properties {
                None if free_form => {}
                None => found.push(format!("{here}: an object without properties")),
                Some(properties) => {
                    for (name, property) in properties {
                        let path = format!("{at}/{name}");
                        let Some(property) = property.as_object() else {
                            found.push(format!("{path}: not a schema"));
                            continue;
                        };
                        let described = property
                            .get("description")
                            .and_then(Value::as_str)
                            .is_some_and(|d| d.trim().len() >= 8);
                        if !described {
                            found.push(format!("{path}: no description telling how to fill it"));
                        }
                        if CLOSED.contains(&name.as_str()) && !property.contains_key("enum") {
                            found.push(format!("{path}: a closed set without `enum`"));
                        }
                        node(property, &path, found);
                    }
                    for required in schema
                        .get("required")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        let name = required.as_str().unwrap_or_default();
                        if !properties.contains_key(name) {
                            found.push(format!("{here}: requires `{name}`, not a property"));
                        }
                    }
                }
            }
        }
        "array" => match schema.get("items").and_then(Value::as_object) {
            Some(items) => node(items, &format!("{at}[]"), found),
            None => found.push(format!("{here}: an array without one items schema")),
        },
        _ => {}
    }
}

fn every_tool() -> DatagouvMcp {
    let client = datagouv::Client::builder()
        .api_key("schema-check")
        .build()
        .unwrap();
    let options = crate::Options {
        allow_files: Some(std::env::temp_dir()),
        allow_writes: true,
        ..crate::Options::default()
    };
    DatagouvMcp::new(client, options)
}

#[test]
fn every_tool_input_schema_is_strict() {
    let server = every_tool();
    let tools = server.tools();
    let mut names: Vec<&str> = tools.iter().map(|tool| tool.name.as_ref()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "create_dataset",
            "export_resource_data",
            "get_dataservice_info",
            "get_dataservice_openapi_spec",
            "get_dataset_info",
            "get_metrics",
            "get_model_metrics",
            "get_resource_info",
            "get_resource_profile",
            "get_reuse_info",
            "get_topic_info",
            "list_dataset_resources",
            "query_resource_data",
            "query_sql",
            "search_dataservices",
            "search_datasets",
            "search_organizations",
            "search_reuses",
            "search_topics",
            "update_dataset",
            "upload_resource",
        ]
    );
    let mut all = Vec::new();
    for tool in &tools {
        let description = tool.description.as_deref().unwrap_or_default();
        if description.len() < 20 {
            all.push(format!("{}: no description", tool.name));
        }
        for violation in violations(&tool.input_schema) {
            all.push(format!("{}: {violation}", tool.name));
        }
    }
    assert!(all.is_empty(), "{}", all.join("\n"));
    // The nested condition is inlined, three levels deep.
    let query = tools
        .iter()
        .find(|tool| tool.name == "query_resource_data")
        .unwrap();
    let condition = &query.input_schema["properties"]["condition"];
    assert_eq!(
        condition["properties"]["groups"]["items"]["properties"]["groups"]["items"]["properties"]
            ["filters"]["items"]["properties"]["operator"]["enum"]
            .as_array()
            .map(Vec::len),
        Some(12)
    );
}

/// What the walker refuses: the shapes schemars gives by default.
#[test]
fn the_walker_fails_on_what_strict_clients_refuse() {
    #[derive(schemars::JsonSchema)]
    #[allow(dead_code)]
    enum Node {
        Leaf(String),
        Group(Vec<Node>),
    }
    #[derive(schemars::JsonSchema)]
    #[allow(dead_code)]
    struct Loose {
        /// An optional field typed as a null union.
        maybe: Option<String>,
        /// A sort order left as free text.
        sort: String,
        undocumented: u32,
        /// A recursive condition.
        condition: Node,
    }
    let schema = rmcp::handler::server::common::schema_for_type::<Loose>();
    let found = violations(&schema).join("\n");
    for expected in [
        "/maybe: type [\"string\",\"null\"] is not one type",
        "/sort: a closed set without `enum`",
        "/undocumented: no description",
        "(root): `$defs`",
        "/condition: `$ref`",
        "/undocumented: format \"uint32\" on a integer",
    ] {
        assert!(found.contains(expected), "{expected} not in:\n{found}");
    }
}
