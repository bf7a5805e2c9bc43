//! A compact, reviewable text of an API's surface, for drift snapshots.
//!
//! One block per operation (method, path, operationId, parameters, request
//! and response types) and one per component schema (its fields and their
//! types), read from the normalised document. A change upstream that alters
//! what the generated client does shows up as a small diff of this text.

use serde_json::Value;
use std::fmt::Write as _;

use crate::convert::METHODS;

/// Renders the surface of a normalised OpenAPI 3 document.
pub fn surface(doc: &Value) -> String {
    let mut out = String::new();
    out.push_str("# operations\n");
    for (path, item) in doc
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        for method in METHODS {
            let Some(op) = item.get(*method) else {
                continue;
            };
            let id = op.get("operationId").and_then(Value::as_str).unwrap_or("?");
            writeln!(
                out,
                "{} {path} {id} -> {}",
                method.to_uppercase(),
                surface_response(op)
            )
            .unwrap();
            let shared = item
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten();
            let own = op
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten();
            for parameter in shared.chain(own) {
                let required = if parameter.get("required").and_then(Value::as_bool) == Some(true) {
                    ""
                } else {
                    "?"
                };
                writeln!(
                    out,
                    "  {} {}{required}: {}",
                    parameter.get("in").and_then(Value::as_str).unwrap_or("?"),
                    parameter.get("name").and_then(Value::as_str).unwrap_or("?"),
                    type_of(parameter.get("schema").unwrap_or(&Value::Null)),
                )
                .unwrap();
            }
            if let Some(content) = op
                .pointer("/requestBody/content")
                .and_then(Value::as_object)
            {
                for (media, body) in content {
                    writeln!(
                        out,
                        "  body {media}: {}",
                        type_of(body.get("schema").unwrap_or(&Value::Null))
                    )
                    .unwrap();
                }
            }
        }
    }
    for excluded in doc
        .get(crate::rules::EXCLUDED_EXTENSION)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        writeln!(
            out,
            "EXCLUDED {} {} {}",
            excluded["method"].as_str().unwrap_or("?"),
            excluded["path"].as_str().unwrap_or("?"),
            excluded["operationId"].as_str().unwrap_or("?"),
        )
        .unwrap();
    }
    out.push_str("\n# types\n");
    for (name, schema) in doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        writeln!(out, "{name}: {}", type_of(schema)).unwrap();
        write_fields(&mut out, schema, "  ");
    }
    out
}

fn write_fields(out: &mut String, schema: &Value, indent: &str) {
    for member in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        write_fields(out, member, indent);
    }
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    for (field, child) in schema
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let mark = if required.contains(&field.as_str()) {
            ""
        } else {
            "?"
        };
        writeln!(out, "{indent}{field}{mark}: {}", type_of(child)).unwrap();
    }
}

/// The response type of an operation: a schema, a raw media type or `()`.
pub fn surface_response(op: &Value) -> String {
    let Some(responses) = op.get("responses").and_then(Value::as_object) else {
        return "()".into();
    };
    let mut kinds = Vec::new();
    for (code, response) in responses {
        let kind = match response.get("content").and_then(Value::as_object) {
            None => "()".to_owned(),
            Some(content) => content
                .iter()
                .map(|(media, body)| match body.get("schema") {
                    Some(schema) if crate::rules::is_json(media) => type_of(schema),
                    _ => format!("bytes({media})"),
                })
                .collect::<Vec<_>>()
                .join(" | "),
        };
        kinds.push(format!("{code} {kind}"));
    }
    if kinds.is_empty() {
        "()".into()
    } else {
        kinds.join(", ")
    }
}

/// Whether no success response of the operation has a body (the generated
/// method then returns `ResponseValue<()>`).
pub fn returns_nothing(op: &Value) -> bool {
    op.get("responses")
        .and_then(Value::as_object)
        .is_none_or(|responses| responses.values().all(|r| r.get("content").is_none()))
}

/// A one-line type expression for a schema.
pub fn type_of(schema: &Value) -> String {
    let nullable = if schema.get("nullable").and_then(Value::as_bool) == Some(true) {
        "|null"
    } else {
        ""
    };
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        return reference.rsplit('/').next().unwrap_or(reference).to_owned();
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(members) = schema.get(key).and_then(Value::as_array) {
            let sep = if key == "allOf" { " & " } else { " | " };
            let joined = members.iter().map(type_of).collect::<Vec<_>>().join(sep);
            return format!("({joined}){nullable}");
        }
    }
    let base = match schema.get("type").and_then(Value::as_str) {
        Some("array") => format!("[{}]", type_of(schema.get("items").unwrap_or(&Value::Null))),
        Some("object") if schema.get("properties").is_some() => "object{..}".to_owned(),
        Some("object") => match schema.get("additionalProperties") {
            Some(Value::Object(values)) => {
                format!("map<{}>", type_of(&Value::Object(values.clone())))
            }
            _ => "object".to_owned(),
        },
        Some(kind) => match schema.get("format").and_then(Value::as_str) {
            Some(format) => format!("{kind}({format})"),
            None => kind.to_owned(),
        },
        None if schema.get("properties").is_some() => "object{..}".to_owned(),
        None => "any".to_owned(),
    };
    let values = match schema.get("enum").and_then(Value::as_array) {
        Some(values) => {
            let list: Vec<String> = values
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect();
            format!(" enum({})", list.join("|"))
        }
        None => String::new(),
    };
    format!("{base}{values}{nullable}")
}
