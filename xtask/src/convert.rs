//! Swagger 2.0 → OpenAPI 3.0.3 conversion of a JSON document.
//!
//! No maintained Rust crate does this conversion (the usual tool is the npm
//! package `swagger2openapi`, and we keep Node out of the build), so it is
//! written here, covering what udata's flask-restx documents use: body and
//! form parameters, percent-encoded `$ref`s to definitions with spaces and
//! parentheses, `collectionFormat`, global responses, security definitions
//! and the server URL. Anything the converter does not understand is an
//! error that names it, never silently dropped.

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The keys of a Swagger 2.0 non-body parameter that move into `schema`.
const PARAMETER_SCHEMA_KEYS: &[&str] = &[
    "type",
    "format",
    "items",
    "enum",
    "default",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "multipleOf",
];

/// The HTTP methods a path item may hold.
pub const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Converts a Swagger 2.0 document into an OpenAPI 3.0.3 document.
pub fn swagger2_to_openapi3(doc: &Value) -> Result<Value> {
    if doc.get("swagger").and_then(Value::as_str) != Some("2.0") {
        bail!("not a Swagger 2.0 document (no `swagger: \"2.0\"`)");
    }
    let names = definition_names(doc)?;
    let mut doc = doc.clone();
    rewrite_refs(&mut doc, &names)?;

    let global_consumes = media_types(doc.get("consumes"));
    let global_produces = media_types(doc.get("produces"));
    let mut out = Map::new();
    out.insert("openapi".into(), json!("3.0.3"));
    for key in ["info", "externalDocs"] {
        if let Some(value) = doc.get(key) {
            out.insert(key.into(), value.clone());
        }
    }
    if let Some(server) = server_url(&doc) {
        out.insert("servers".into(), json!([{ "url": server }]));
    }
    if let Some(tags) = doc.get("tags") {
        out.insert("tags".into(), tags.clone());
    }

    let mut paths = Map::new();
    for (path, item) in object(&doc, "paths")? {
        let context = MediaDefaults {
            consumes: &global_consumes,
            produces: &global_produces,
        };
        paths.insert(
            path.clone(),
            convert_path_item(item, &context).with_context(|| format!("path {path}"))?,
        );
    }
    out.insert("paths".into(), Value::Object(paths));

    let mut components = Map::new();
    if let Some(definitions) = doc.get("definitions").and_then(Value::as_object) {
        let mut schemas = Map::new();
        for (name, schema) in definitions {
            schemas.insert(names[name].clone(), convert_schema(schema));
        }
        components.insert("schemas".into(), Value::Object(schemas));
    }
    if let Some(responses) = doc.get("responses").and_then(Value::as_object) {
        let mut converted = Map::new();
        for (name, response) in responses {
            converted.insert(name.clone(), convert_response(response, &global_produces));
        }
        components.insert("responses".into(), Value::Object(converted));
    }
    if let Some(parameters) = doc.get("parameters").and_then(Value::as_object) {
        let mut converted = Map::new();
        for (name, parameter) in parameters {
            if matches!(
                parameter.get("in").and_then(Value::as_str),
                Some("body" | "formData")
            ) {
                bail!("global body/formData parameter `{name}` is not supported");
            }
            converted.insert(name.clone(), convert_parameter(parameter)?);
        }
        components.insert("parameters".into(), Value::Object(converted));
    }
    if let Some(security) = doc.get("securityDefinitions").and_then(Value::as_object) {
        let mut schemes = Map::new();
        for (name, scheme) in security {
            schemes.insert(name.clone(), convert_security_scheme(scheme)?);
        }
        components.insert("securitySchemes".into(), Value::Object(schemes));
    }
    out.insert("components".into(), Value::Object(components));
    if let Some(security) = doc.get("security") {
        out.insert("security".into(), security.clone());
    }
    for (key, value) in doc.as_object().into_iter().flatten() {
        if key.starts_with("x-") {
            out.insert(key.clone(), value.clone());
        }
    }
    Ok(Value::Object(out))
}

/// The legal component name for every definition, e.g. `Dataset (read)` →
/// `DatasetRead`: characters outside `[A-Za-z0-9]` end a word.
fn definition_names(doc: &Value) -> Result<BTreeMap<String, String>> {
    let mut names = BTreeMap::new();
    let mut taken = BTreeMap::new();
    for name in doc
        .get("definitions")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, _)| k)
    {
        let legal = legal_component_name(name);
        if let Some(other) = taken.insert(legal.clone(), name.clone()) {
            bail!("definitions `{other}` and `{name}` would both be named `{legal}`");
        }
        names.insert(name.clone(), legal);
    }
    Ok(names)
}

/// Turns any definition name into `[A-Za-z0-9]+`, capitalising each word.
pub fn legal_component_name(name: &str) -> String {
    let mut legal = String::with_capacity(name.len());
    let mut word_start = true;
    for ch in name.chars() {
        if ch.is_ascii_alphanumeric() {
            if word_start {
                legal.push(ch.to_ascii_uppercase());
            } else {
                legal.push(ch);
            }
            word_start = false;
        } else {
            word_start = true;
        }
    }
    legal
}

/// Rewrites every `$ref` to its OpenAPI 3 location, decoding percent escapes.
fn rewrite_refs(value: &mut Value, names: &BTreeMap<String, String>) -> Result<()> {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get_mut("$ref") {
                *reference = rewrite_ref(reference, names)?;
            }
            for (_, child) in map.iter_mut() {
                rewrite_refs(child, names)?;
            }
        }
        Value::Array(items) => {
            for child in items {
                rewrite_refs(child, names)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn rewrite_ref(reference: &str, names: &BTreeMap<String, String>) -> Result<String> {
    let decoded = percent_decode(reference)?;
    if let Some(name) = decoded.strip_prefix("#/definitions/") {
        let legal = names
            .get(name)
            .with_context(|| format!("`$ref` to unknown definition `{name}`"))?;
        Ok(format!("#/components/schemas/{legal}"))
    } else if let Some(name) = decoded.strip_prefix("#/responses/") {
        Ok(format!("#/components/responses/{name}"))
    } else if let Some(name) = decoded.strip_prefix("#/parameters/") {
        Ok(format!("#/components/parameters/{name}"))
    } else {
        bail!("unsupported `$ref` {reference}")
    }
}

/// Decodes `%XX` escapes (UTF-8) in a reference.
pub fn percent_decode(text: &str) -> Result<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = text
                .get(index + 1..index + 3)
                .with_context(|| format!("bad escape in {text}"))?;
            out.push(u8::from_str_radix(hex, 16).with_context(|| format!("bad escape in {text}"))?);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).with_context(|| format!("escape in {text} is not UTF-8"))
}

fn server_url(doc: &Value) -> Option<String> {
    let host = doc.get("host")?.as_str()?;
    let scheme = doc
        .get("schemes")
        .and_then(Value::as_array)
        .and_then(|schemes| schemes.first())
        .and_then(Value::as_str)
        .unwrap_or("https");
    let base = doc.get("basePath").and_then(Value::as_str).unwrap_or("");
    Some(format!("{scheme}://{host}{base}"))
}

fn media_types(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn object<'a>(value: &'a Value, key: &str) -> Result<&'a Map<String, Value>> {
    value
        .get(key)
        .and_then(Value::as_object)
        .with_context(|| format!("`{key}` is missing or not an object"))
}

/// The media types in force for one operation.
struct MediaDefaults<'a> {
    consumes: &'a [String],
    produces: &'a [String],
}

fn convert_path_item(item: &Value, context: &MediaDefaults<'_>) -> Result<Value> {
    let mut out = Map::new();
    for (key, value) in item.as_object().context("path item is not an object")? {
        match key.as_str() {
            "parameters" => {
                let mut parameters = Vec::new();
                for parameter in value.as_array().context("`parameters` is not a list")? {
                    if matches!(
                        parameter.get("in").and_then(Value::as_str),
                        Some("body" | "formData")
                    ) {
                        bail!("path-level body/formData parameters are not supported");
                    }
                    parameters.push(convert_parameter(parameter)?);
                }
                out.insert(key.clone(), Value::Array(parameters));
            }
            method if METHODS.contains(&method) => {
                out.insert(
                    key.clone(),
                    convert_operation(value, context)
                        .with_context(|| format!("operation {method}"))?,
                );
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    Ok(Value::Object(out))
}

fn convert_operation(operation: &Value, context: &MediaDefaults<'_>) -> Result<Value> {
    let consumes = match operation.get("consumes") {
        Some(list) => media_types(Some(list)),
        None => context.consumes.to_vec(),
    };
    let produces = match operation.get("produces") {
        Some(list) => media_types(Some(list)),
        None => context.produces.to_vec(),
    };
    let mut out = Map::new();
    let mut parameters = Vec::new();
    let mut body = None;
    let mut form = Vec::new();
    for parameter in operation
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match parameter.get("in").and_then(Value::as_str) {
            Some("body") => body = Some(parameter),
            Some("formData") => form.push(parameter),
            _ => parameters.push(convert_parameter(parameter)?),
        }
    }
    for (key, value) in operation
        .as_object()
        .context("operation is not an object")?
    {
        match key.as_str() {
            "consumes" | "produces" | "schemes" => {}
            "parameters" => {
                if !parameters.is_empty() {
                    out.insert(key.clone(), Value::Array(std::mem::take(&mut parameters)));
                }
                if let Some(body) = body {
                    out.insert("requestBody".into(), body_request(body, &consumes));
                }
                if !form.is_empty() {
                    out.insert("requestBody".into(), form_request(&form, &consumes)?);
                }
            }
            "responses" => {
                let mut responses = Map::new();
                for (code, response) in value.as_object().context("`responses` is not an object")? {
                    responses.insert(code.clone(), convert_response(response, &produces));
                }
                out.insert(key.clone(), Value::Object(responses));
            }
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    Ok(Value::Object(out))
}

/// `in: body` → `requestBody` with the JSON-ish media types the op consumes.
fn body_request(body: &Value, consumes: &[String]) -> Value {
    let schema = body
        .get("schema")
        .map(convert_schema)
        .unwrap_or_else(|| json!({}));
    let mut content = Map::new();
    let types: Vec<&str> = if consumes.is_empty() {
        vec!["application/json"]
    } else {
        consumes.iter().map(String::as_str).collect()
    };
    for media in types {
        content.insert(media.to_owned(), json!({ "schema": schema }));
    }
    let mut out = Map::new();
    if let Some(description) = body.get("description") {
        out.insert("description".into(), description.clone());
    }
    out.insert("content".into(), Value::Object(content));
    if body.get("required").and_then(Value::as_bool) == Some(true) {
        out.insert("required".into(), json!(true));
    }
    Value::Object(out)
}

/// `in: formData` parameters → one object schema under the form media type.
fn form_request(form: &[&Value], consumes: &[String]) -> Result<Value> {
    let media = if consumes.iter().any(|media| media == "multipart/form-data")
        || form
            .iter()
            .any(|p| p.get("type").and_then(Value::as_str) == Some("file"))
    {
        "multipart/form-data"
    } else {
        "application/x-www-form-urlencoded"
    };
    let mut properties = Map::new();
    let mut required = Vec::new();
    for parameter in form {
        let name = parameter
            .get("name")
            .and_then(Value::as_str)
            .context("form parameter without a name")?;
        let mut schema = parameter_schema(parameter);
        if let Some(description) = parameter.get("description") {
            schema.insert("description".into(), description.clone());
        }
        properties.insert(name.to_owned(), Value::Object(schema));
        if parameter.get("required").and_then(Value::as_bool) == Some(true) {
            required.push(json!(name));
        }
    }
    let mut schema = Map::new();
    schema.insert("type".into(), json!("object"));
    schema.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        schema.insert("required".into(), Value::Array(required));
    }
    Ok(json!({ "content": { media: { "schema": schema } }, "required": true }))
}

/// The `schema` of a non-body parameter, from its Swagger 2.0 keywords.
fn parameter_schema(parameter: &Value) -> Map<String, Value> {
    let mut schema = Map::new();
    for key in PARAMETER_SCHEMA_KEYS {
        if let Some(value) = parameter.get(*key) {
            let value = if *key == "items" {
                Value::Object(parameter_schema(value))
            } else {
                value.clone()
            };
            schema.insert((*key).to_owned(), value);
        }
    }
    if schema.get("type").and_then(Value::as_str) == Some("file") {
        schema.insert("type".into(), json!("string"));
        schema.insert("format".into(), json!("binary"));
    }
    schema
}

fn convert_parameter(parameter: &Value) -> Result<Value> {
    if parameter.get("$ref").is_some() {
        return Ok(parameter.clone());
    }
    let mut out = Map::new();
    for key in [
        "name",
        "in",
        "description",
        "required",
        "allowEmptyValue",
        "deprecated",
    ] {
        if let Some(value) = parameter.get(key) {
            out.insert(key.to_owned(), value.clone());
        }
    }
    if parameter.get("in").and_then(Value::as_str) == Some("path") {
        out.insert("required".into(), json!(true));
    }
    out.insert("schema".into(), Value::Object(parameter_schema(parameter)));
    match parameter.get("collectionFormat").and_then(Value::as_str) {
        None => {}
        Some("multi") => {
            out.insert("style".into(), json!("form"));
            out.insert("explode".into(), json!(true));
        }
        Some("csv") => {
            out.insert("style".into(), json!("form"));
            out.insert("explode".into(), json!(false));
        }
        Some("pipes") => {
            out.insert("style".into(), json!("pipeDelimited"));
            out.insert("explode".into(), json!(false));
        }
        Some("ssv") => {
            out.insert("style".into(), json!("spaceDelimited"));
            out.insert("explode".into(), json!(false));
        }
        Some(other) => bail!("unsupported collectionFormat `{other}`"),
    }
    for (key, value) in parameter.as_object().into_iter().flatten() {
        if key.starts_with("x-") {
            out.insert(key.clone(), value.clone());
        }
    }
    Ok(Value::Object(out))
}

fn convert_response(response: &Value, produces: &[String]) -> Value {
    if response.get("$ref").is_some() {
        return response.clone();
    }
    let mut out = Map::new();
    out.insert(
        "description".into(),
        response
            .get("description")
            .cloned()
            .unwrap_or_else(|| json!("")),
    );
    if let Some(schema) = response.get("schema") {
        let schema = convert_schema(schema);
        let mut content = Map::new();
        let types: Vec<&str> = if produces.is_empty() {
            vec!["application/json"]
        } else {
            produces.iter().map(String::as_str).collect()
        };
        for media in types {
            content.insert(media.to_owned(), json!({ "schema": schema }));
        }
        out.insert("content".into(), Value::Object(content));
    }
    if let Some(headers) = response.get("headers").and_then(Value::as_object) {
        let mut converted = Map::new();
        for (name, header) in headers {
            let mut header_out = Map::new();
            if let Some(description) = header.get("description") {
                header_out.insert("description".into(), description.clone());
            }
            header_out.insert("schema".into(), Value::Object(parameter_schema(header)));
            converted.insert(name.clone(), Value::Object(header_out));
        }
        out.insert("headers".into(), Value::Object(converted));
    }
    Value::Object(out)
}

/// Converts a schema: `x-nullable`, string discriminators and `type: file`.
fn convert_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                match key.as_str() {
                    "x-nullable" => {
                        out.insert("nullable".into(), value.clone());
                    }
                    "discriminator" if value.is_string() => {
                        out.insert(key.clone(), json!({ "propertyName": value }));
                    }
                    // Property names are data, not keywords: recurse into each.
                    "properties" | "definitions" => {
                        let converted = value
                            .as_object()
                            .map(|props| {
                                props
                                    .iter()
                                    .map(|(k, v)| (k.clone(), convert_schema(v)))
                                    .collect()
                            })
                            .unwrap_or_default();
                        out.insert(key.clone(), Value::Object(converted));
                    }
                    "example" | "enum" | "default" | "required" => {
                        out.insert(key.clone(), value.clone());
                    }
                    _ => {
                        out.insert(key.clone(), convert_schema(value));
                    }
                }
            }
            if out.get("type").and_then(Value::as_str) == Some("file") {
                out.insert("type".into(), json!("string"));
                out.insert("format".into(), json!("binary"));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(convert_schema).collect()),
        other => other.clone(),
    }
}

fn convert_security_scheme(scheme: &Value) -> Result<Value> {
    match scheme.get("type").and_then(Value::as_str) {
        Some("apiKey") => Ok(scheme.clone()),
        Some("basic") => Ok(json!({ "type": "http", "scheme": "basic" })),
        other => bail!("unsupported security scheme type {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_names_are_legal_and_readable() {
        assert_eq!(legal_component_name("Dataset (read)"), "DatasetRead");
        assert_eq!(legal_component_name("Reuse (write)"), "ReuseWrite");
        assert_eq!(legal_component_name("DatasetPage"), "DatasetPage");
        assert_eq!(
            legal_component_name("harvest-source.item"),
            "HarvestSourceItem"
        );
    }

    #[test]
    fn percent_encoded_refs_are_decoded_and_mapped() {
        let doc = json!({
            "swagger": "2.0", "host": "example.org", "basePath": "/api/1",
            "consumes": ["application/json"], "produces": ["application/json"],
            "paths": {"/x/": {"post": {
                "operationId": "make_x",
                "parameters": [
                    {"name": "payload", "in": "body", "required": true,
                     "schema": {"$ref": "#/definitions/Reuse%20%28read%29"}},
                    {"name": "tag", "in": "query", "type": "array", "items": {"type": "string"},
                     "collectionFormat": "multi"}
                ],
                "responses": {"200": {"description": "ok", "schema": {"$ref": "#/definitions/Reuse%20%28read%29"}}}
            }}},
            "definitions": {"Reuse (read)": {"type": "object", "discriminator": "class"}},
            "securityDefinitions": {"apikey": {"type": "apiKey", "in": "header", "name": "X-API-KEY"}}
        });
        let out = swagger2_to_openapi3(&doc).unwrap();
        let op = &out["paths"]["/x/"]["post"];
        assert_eq!(
            op["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ReuseRead"
        );
        assert_eq!(op["parameters"][0]["schema"]["type"], "array");
        assert_eq!(op["parameters"][0]["explode"], true);
        assert_eq!(
            op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ReuseRead"
        );
        assert_eq!(
            out["components"]["schemas"]["ReuseRead"]["discriminator"]["propertyName"],
            "class"
        );
        assert_eq!(out["servers"][0]["url"], "https://example.org/api/1");
        assert_eq!(
            out["components"]["securitySchemes"]["apikey"]["name"],
            "X-API-KEY"
        );
    }

    #[test]
    fn form_data_becomes_a_multipart_body() {
        let doc = json!({
            "swagger": "2.0", "paths": {"/up/": {"post": {
                "operationId": "upload", "consumes": ["multipart/form-data"],
                "parameters": [{"name": "file", "in": "formData", "type": "file", "required": true}],
                "responses": {"201": {"description": "created"}}
            }}}
        });
        let out = swagger2_to_openapi3(&doc).unwrap();
        let schema = &out["paths"]["/up/"]["post"]["requestBody"]["content"]["multipart/form-data"]
            ["schema"];
        assert_eq!(schema["properties"]["file"]["format"], "binary");
        assert_eq!(schema["required"][0], "file");
    }
}
