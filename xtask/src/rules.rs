//! General rules that make an OpenAPI 3 document fit progenitor 0.15 and
//! accept what the real servers send.
//!
//! Each rule handles one class of problem wherever it occurs (the classes are
//! listed in `shared/specs/raw/PROGENITOR_NOTES.md`), so a new upstream
//! operation with the same problem needs no new edit. Point corrections that
//! no rule can infer live in the overlay instead.

use anyhow::{Context, Result, bail};
use heck::{ToPascalCase, ToSnakeCase};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};

use crate::{convert::METHODS, overlay::Guarantee};

/// The extension listing the operations removed by [`exclude_multipart`].
pub const EXCLUDED_EXTENSION: &str = "x-datagouv-excluded-operations";

/// Schema keywords that only constrain values; a client decoding a response
/// must not reject what the server chose to send.
const RESPONSE_CONSTRAINTS: &[&str] = &[
    "required",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "default",
];

/// Runs every rule in order.
pub fn apply_all(doc: &mut Value, guaranteed: &[&Guarantee]) -> Result<()> {
    drop_field_mask_headers(doc);
    exclude_multipart(doc);
    drop_mistyped_defaults(doc);
    drop_error_responses(doc);
    uniform_success_responses(doc)?;
    any_success_status(doc);
    schema_for_bare_json(doc);
    loosen_response_schemas(doc);
    split_written_guaranteed(doc, guaranteed)?;
    require_guaranteed(doc, guaranteed)?;
    rename_colliding_components(doc);
    unique_parameter_names(doc);
    sort_string_enums(doc);
    check_progenitor_limits(doc)
}

/// Iterates over `(path, method, operation)` of every operation.
fn operations_mut(
    doc: &mut Value,
) -> impl Iterator<Item = (String, &'static str, &mut Map<String, Value>)> {
    doc.get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.iter_mut())
        .flat_map(|(path, item)| {
            let path = path.clone();
            item.as_object_mut().into_iter().flat_map(move |item| {
                let path = path.clone();
                item.iter_mut().filter_map(move |(key, op)| {
                    let method = METHODS.iter().find(|m| **m == key.as_str())?;
                    Some((path.clone(), *method, op.as_object_mut()?))
                })
            })
        })
}

/// Drops the optional `X-Fields` field-mask header from every operation: it
/// would be a positional argument of 164 generated methods; the facade
/// offers field masks once, for every request.
pub fn drop_field_mask_headers(doc: &mut Value) {
    let is_mask = |p: &Value| {
        p.get("in").and_then(Value::as_str) == Some("header")
            && p.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.eq_ignore_ascii_case("x-fields"))
    };
    for item in doc
        .get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|p| p.values_mut())
    {
        if let Some(list) = item.get_mut("parameters").and_then(Value::as_array_mut) {
            list.retain(|p| !is_mask(p));
        }
    }
    for (_, _, op) in operations_mut(doc) {
        if let Some(list) = op.get_mut("parameters").and_then(Value::as_array_mut) {
            list.retain(|p| !is_mask(p));
            if list.is_empty() {
                op.shift_remove("parameters");
            }
        }
    }
}

/// Removes operations whose request body is `multipart/form-data` (progenitor
/// 0.15 cannot send it) and lists them in [`EXCLUDED_EXTENSION`], so the
/// facade can serve each one by hand and none vanishes silently.
pub fn exclude_multipart(doc: &mut Value) {
    let mut excluded = Vec::new();
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            let Some(item) = item.as_object_mut() else {
                continue;
            };
            for method in METHODS {
                let multipart = item
                    .get(*method)
                    .and_then(|op| op.pointer("/requestBody/content/multipart~1form-data"))
                    .is_some();
                if multipart {
                    let op = item.shift_remove(*method).unwrap_or_default();
                    excluded.push(json!({
                        "operationId": op.get("operationId").cloned().unwrap_or_default(),
                        "method": method.to_uppercase(),
                        "path": path,
                        "reason": "multipart/form-data upload: progenitor 0.15 cannot send multipart bodies",
                        // Kept so the hand-written code's answer types are
                        // loosened like every other response type.
                        "responses": op.get("responses").cloned().unwrap_or_default(),
                    }));
                }
            }
        }
        paths.retain(|_, item| {
            item.as_object()
                .is_some_and(|i| METHODS.iter().any(|m| i.contains_key(*m)))
        });
    }
    if !excluded.is_empty() {
        doc[EXCLUDED_EXTENSION] = Value::Array(excluded);
    }
}

/// Drops any `default` or `example` whose JSON type does not match the
/// schema's `type`: typify refuses such defaults (`size: {type: string,
/// default: 10}`), and mock servers serve such examples verbatim
/// (`availability: {type: number, example: "99.99"}`).
pub fn drop_mistyped_defaults(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(kind)) = map.get("type") {
                let kind = kind.clone();
                for key in ["default", "example"] {
                    if map.get(key).is_some_and(|v| !fits_type(&kind, v)) {
                        map.shift_remove(key);
                    }
                }
            }
            map.values_mut().for_each(drop_mistyped_defaults);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_mistyped_defaults),
        _ => {}
    }
}

/// Whether a JSON value is of a schema `type`.
fn fits_type(kind: &str, value: &Value) -> bool {
    match kind {
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => true,
    }
}

fn is_success(code: &str) -> bool {
    code.starts_with('2')
}

/// Removes every non-2xx response. Upstream declares error responses
/// inconsistently (typed on one status, untyped on another, which makes
/// progenitor panic), and the real error bodies vary (JSON `message`,
/// validation `errors`, plain text, proxy HTML). Undeclared statuses reach
/// the caller as `Error::UnexpectedResponse` with status, headers and body
/// intact, which the facade turns into one error type.
pub fn drop_error_responses(doc: &mut Value) {
    for (_, _, op) in operations_mut(doc) {
        if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
            responses.retain(|code, _| is_success(code));
        }
    }
}

/// progenitor needs all 2xx responses of an operation to be of one kind.
/// When some carry a body and others none (`200` typed + `204`), the
/// bodiless ones are dropped; two different bodies are an error for the
/// overlay to settle.
pub fn uniform_success_responses(doc: &mut Value) -> Result<()> {
    for (path, method, op) in operations_mut(doc) {
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            continue;
        };
        let with_body = responses
            .values()
            .filter(|r| r.get("content").is_some())
            .count();
        if with_body > 0 && with_body < responses.len() {
            responses.retain(|_, r| r.get("content").is_some());
        }
        let contents: BTreeSet<String> = responses
            .values()
            .filter_map(|r| r.get("content"))
            .map(Value::to_string)
            .collect();
        if contents.len() > 1 {
            bail!(
                "{method} {path}: 2xx responses declare different bodies; settle it in the overlay"
            );
        }
    }
    Ok(())
}

/// Merges the 2xx responses of an operation (now all of one kind) into one
/// `2XX` response: udata answers 200 or 201 for the same follow, 204 where
/// the document says 200, and a declared-but-different success status
/// would turn a success into `Error::UnexpectedResponse`. The real status
/// stays readable on the `ResponseValue`.
pub fn any_success_status(doc: &mut Value) {
    for (_, _, op) in operations_mut(doc) {
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            continue;
        };
        let Some(first) = responses
            .iter()
            .find(|(code, _)| is_success(code))
            .map(|(_, r)| r.clone())
        else {
            continue;
        };
        responses.retain(|code, _| !is_success(code));
        responses.insert("2XX".into(), first);
    }
}

/// Gives every JSON media type without a schema an unconstrained one
/// (`serde_json::Value`): progenitor panics on a JSON body with no schema.
pub fn schema_for_bare_json(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(content)) = map.get_mut("content") {
                for (media, body) in content.iter_mut() {
                    if is_json(media)
                        && let Some(body) = body.as_object_mut()
                        && !body.contains_key("schema")
                    {
                        body.insert("schema".into(), json!({}));
                    }
                }
            }
            map.values_mut().for_each(schema_for_bare_json);
        }
        Value::Array(items) => items.iter_mut().for_each(schema_for_bare_json),
        _ => {}
    }
}

/// Whether progenitor decodes a media type as JSON (only `application/json`;
/// every other media type is returned as raw bytes).
pub fn is_json(media: &str) -> bool {
    media == "application/json" || media.starts_with("application/json;")
}

/// Collects the component schema names a value refers to.
fn collect_refs(value: &Value, found: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
            {
                found.insert(name.to_owned());
            }
            map.values().for_each(|v| collect_refs(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, found)),
        _ => {}
    }
}

/// The names referenced by one part (`responses`, `requestBody`) of every
/// operation.
fn operation_refs(doc: &Value, part: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for item in doc
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|p| p.values())
    {
        for method in METHODS {
            if let Some(value) = item.get(*method).and_then(|op| op.get(part)) {
                collect_refs(value, &mut found);
            }
        }
    }
    found
}

/// Every component schema reachable from these names, the names included.
fn reachable(doc: &Value, mut pending: BTreeSet<String>) -> BTreeSet<String> {
    let schemas = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object);
    let mut reached = BTreeSet::new();
    while let Some(name) = pending.pop_first() {
        if reached.insert(name.clone())
            && let Some(schema) = schemas.and_then(|s| s.get(&name))
        {
            let mut found = BTreeSet::new();
            collect_refs(schema, &mut found);
            pending.extend(found.into_iter().filter(|n| !reached.contains(n)));
        }
    }
    reached
}

/// The component schemas reachable from any response body.
pub fn response_schemas(doc: &Value) -> BTreeSet<String> {
    let mut pending = operation_refs(doc, "responses");
    if let Some(responses) = doc.pointer("/components/responses") {
        collect_refs(responses, &mut pending);
    }
    if let Some(excluded) = doc.get(EXCLUDED_EXTENSION) {
        collect_refs(excluded, &mut pending);
    }
    reachable(doc, pending)
}

/// Makes every schema that describes a response accept what the servers
/// really send: no field is required (udata omits fields under a field
/// mask), every property may be `null` (Swagger 2.0 cannot say nullable and
/// udata sends null for any unset field), enums become strings listing the
/// known values (a new server value must not break decoding), length,
/// range and pattern constraints go (legacy records exceed them), and an
/// object with no declared properties stays a free-form map.
pub fn loosen_response_schemas(doc: &mut Value) {
    let names = response_schemas(doc);
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        for name in &names {
            if let Some(schema) = schemas.get_mut(name) {
                loosen(schema);
            }
        }
    }
    for (_, _, op) in operations_mut(doc) {
        for response in op
            .get_mut("responses")
            .and_then(Value::as_object_mut)
            .into_iter()
            .flat_map(|r| r.values_mut())
        {
            for body in response
                .get_mut("content")
                .and_then(Value::as_object_mut)
                .into_iter()
                .flat_map(|c| c.values_mut())
            {
                if let Some(schema) = body.get_mut("schema") {
                    loosen(schema);
                }
            }
        }
    }
}

fn loosen(schema: &mut Value) {
    let Some(map) = schema.as_object_mut() else {
        return;
    };
    for key in RESPONSE_CONSTRAINTS {
        map.shift_remove(*key);
    }
    if let Some(Value::Array(values)) = map.shift_remove("enum") {
        let mut known: Vec<String> = values
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| v.to_string())
            })
            .collect();
        known.sort();
        let note = format!("Known values: {}.", known.join(", "));
        let description = match map.get("description").and_then(Value::as_str) {
            Some(text) if !text.is_empty() => format!("{text}\n\n{note}"),
            _ => note,
        };
        map.insert("description".into(), json!(description));
        if !map.contains_key("type") {
            map.insert("type".into(), json!("string"));
        }
    }
    // An object declared with no properties at all (udata's `Schema (read)`,
    // `Team (read)`) would become a struct with no fields that silently
    // drops everything the server sends: keep it as a free-form map.
    if map
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| p.is_empty())
        && !map.contains_key("allOf")
    {
        map.shift_remove("properties");
    }
    if let Some(Value::Object(properties)) = map.get_mut("properties") {
        for property in properties.values_mut() {
            loosen(property);
            if let Some(property) = property.as_object_mut()
                && !property.contains_key("$ref")
            {
                property.insert("nullable".into(), json!(true));
            }
        }
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(child) = map.get_mut(key) {
            loosen(child);
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        for child in map
            .get_mut(key)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            loosen(child);
        }
    }
}

/// Guaranteed fields hold in answers, not in what a client sends: a schema
/// with guarantees that a request body also reaches (udata's `Dataset` is
/// both what `create_dataset` takes and what `get_dataset` answers) gets a
/// copy named `<Name>Write`, loosened as before, and every request body and
/// request-side schema refers to the copy. Answers keep the original name.
pub fn split_written_guaranteed(doc: &mut Value, guaranteed: &[&Guarantee]) -> Result<()> {
    let reached = reachable(doc, operation_refs(doc, "requestBody"));
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return Ok(());
    };
    let split: BTreeMap<String, String> = guaranteed
        .iter()
        .filter(|g| reached.contains(&g.schema))
        .map(|g| (g.schema.clone(), format!("{}Write", g.schema)))
        .collect();
    for (name, copy) in &split {
        if schemas.contains_key(copy) {
            bail!("cannot split `{name}` for requests: `{copy}` already exists");
        }
        let schema = schemas[name].clone();
        schemas.insert(copy.clone(), schema);
    }
    for name in &reached {
        let target = split.get(name).unwrap_or(name);
        if let Some(schema) = schemas.get_mut(target) {
            rename_refs(schema, &split);
        }
    }
    for (_, _, op) in operations_mut(doc) {
        if let Some(body) = op.get_mut("requestBody") {
            rename_refs(body, &split);
        }
    }
    Ok(())
}

/// Makes the fields the server guarantees required and not nullable again,
/// after [`loosen_response_schemas`]: the overlay's `guaranteed` entries,
/// each with its evidence. A named schema or field that no longer exists is
/// an error (the upstream document changed: review the entry). Response
/// types then hold these fields plainly, and the facade's field masks always
/// ask for them.
pub fn require_guaranteed(doc: &mut Value, guaranteed: &[&Guarantee]) -> Result<()> {
    for guarantee in guaranteed {
        let schema = doc
            .pointer_mut(&format!("/components/schemas/{}", guarantee.schema))
            .and_then(Value::as_object_mut)
            .with_context(|| format!("guaranteed fields: no schema `{}`", guarantee.schema))?;
        for field in &guarantee.fields {
            // The property sits in the schema itself or, for a schema
            // composed with `allOf`, in one of its inline parts.
            let part = if has_property(schema, field) {
                Some(&mut *schema)
            } else {
                schema
                    .get_mut("allOf")
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_object_mut)
                    .find(|part| has_property(part, field))
            };
            let part = part.with_context(|| {
                format!("guaranteed fields: `{}` has no `{field}`", guarantee.schema)
            })?;
            if let Some(property) = part
                .get_mut("properties")
                .and_then(|p| p.get_mut(field))
                .and_then(Value::as_object_mut)
            {
                property.shift_remove("nullable");
            }
            let required = part
                .entry("required")
                .or_insert_with(|| json!([]))
                .as_array_mut()
                .context("`required` is not a list")?;
            if !required.iter().any(|r| r == field) {
                required.push(json!(field));
            }
        }
    }
    Ok(())
}

fn has_property(schema: &Map<String, Value>, field: &str) -> bool {
    schema
        .get("properties")
        .and_then(|p| p.get(field))
        .is_some()
}

/// Whether typify gives this inline schema a type of its own, named after
/// its parent (`<Parent><Property>`).
fn gets_own_type(schema: &Value) -> bool {
    schema.get("enum").is_some()
        || schema.get("properties").is_some()
        || ["oneOf", "anyOf"].iter().any(|k| schema.get(*k).is_some())
        || schema
            .get("allOf")
            .and_then(Value::as_array)
            .is_some_and(|all| all.len() > 1)
}

/// typify names an inline enum or object `<Parent><Property>` (and request
/// bodies `<OperationId>Body`, parameters `<OperationId><Param>`) without
/// checking the component names: `Resource.type` became `ResourceType`, the
/// name of another component. Components whose name such a derived type
/// would take get the suffix `Def`, and every `$ref` follows.
pub fn rename_colliding_components(doc: &mut Value) {
    let Some(schemas) = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
    else {
        return;
    };
    let mut derived = BTreeSet::new();
    for (name, schema) in schemas {
        for (property, child) in schema
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if gets_own_type(child) || child.get("items").is_some_and(gets_own_type) {
                derived.insert(format!(
                    "{}{}",
                    name.to_pascal_case(),
                    property.to_pascal_case()
                ));
            }
        }
    }
    for item in doc
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|p| p.values())
    {
        for method in METHODS {
            let Some(op) = item.get(*method) else {
                continue;
            };
            let id = op
                .get("operationId")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_pascal_case();
            let inline = |schema: &Value| {
                gets_own_type(schema) || schema.get("items").is_some_and(gets_own_type)
            };
            let mut bodies = Vec::new();
            if let Some(body) = op.get("requestBody") {
                collect_media_schemas(body, &mut bodies);
            }
            if bodies.iter().any(|s| inline(s)) {
                derived.insert(format!("{id}Body"));
            }
            let mut answers = Vec::new();
            if let Some(responses) = op.get("responses") {
                collect_media_schemas(responses, &mut answers);
            }
            if answers.iter().any(|s| inline(s)) {
                derived.insert(format!("{id}Response"));
            }
            for parameter in op
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if parameter.get("schema").is_some_and(inline) {
                    let name = parameter
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    derived.insert(format!("{id}{}", name.to_pascal_case()));
                }
            }
        }
    }
    let renames: BTreeMap<String, String> = schemas
        .keys()
        .filter(|name| derived.contains(&name.to_pascal_case()))
        .map(|name| (name.clone(), format!("{name}Def")))
        .collect();
    if renames.is_empty() {
        return;
    }
    let schemas = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
        .expect("checked above");
    let old = std::mem::take(schemas);
    for (name, schema) in old {
        schemas.insert(renames.get(&name).cloned().unwrap_or(name), schema);
    }
    rename_refs(doc, &renames);
}

/// Collects the `schema` of every media type below a request body or a
/// responses object.
fn collect_media_schemas<'a>(value: &'a Value, found: &mut Vec<&'a Value>) {
    if let Some(content) = value.get("content").and_then(Value::as_object) {
        found.extend(content.values().filter_map(|body| body.get("schema")));
    }
    for child in value.as_object().into_iter().flat_map(|map| map.values()) {
        if child.is_object() && child.get("content").is_some() {
            collect_media_schemas(child, found);
        }
    }
}

fn rename_refs(value: &mut Value, renames: &BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get_mut("$ref")
                && let Some(new) = reference
                    .strip_prefix("#/components/schemas/")
                    .and_then(|n| renames.get(n))
            {
                *reference = format!("#/components/schemas/{new}");
            }
            map.values_mut().for_each(|v| rename_refs(v, renames));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rename_refs(v, renames)),
        _ => {}
    }
}

/// After snake-casing, the parameters of one operation must have distinct
/// names (`_format` in the path and `format` in the query both become
/// `format`). The path parameter is renamed `path_<name>`: its name is not
/// visible on the wire.
pub fn unique_parameter_names(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    let old = std::mem::take(paths);
    for (path, mut item) in old {
        let mut new_path = path.clone();
        let shared: Vec<Value> = item
            .get("parameters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut path_renames = BTreeMap::new();
        for method in METHODS {
            let Some(op) = item.get(*method) else {
                continue;
            };
            let own: Vec<&Value> = op
                .get("parameters")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .collect();
            let mut counts: BTreeMap<String, usize> = BTreeMap::new();
            for parameter in shared.iter().chain(own.iter().copied()) {
                let name = parameter
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                *counts.entry(name.to_snake_case()).or_default() += 1;
            }
            for parameter in shared.iter().chain(own.iter().copied()) {
                let name = parameter
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if parameter.get("in").and_then(Value::as_str) == Some("path")
                    && counts[&name.to_snake_case()] > 1
                {
                    path_renames.insert(name.to_owned(), format!("path_{}", name.to_snake_case()));
                }
            }
        }
        for (old_name, new_name) in &path_renames {
            new_path = new_path.replace(&format!("{{{old_name}}}"), &format!("{{{new_name}}}"));
            rename_path_parameter(item.get_mut("parameters"), old_name, new_name);
            for method in METHODS {
                if let Some(op) = item.get_mut(*method) {
                    rename_path_parameter(op.get_mut("parameters"), old_name, new_name);
                }
            }
        }
        paths.insert(new_path, item);
    }
}

fn rename_path_parameter(list: Option<&mut Value>, old: &str, new: &str) {
    for parameter in list.and_then(Value::as_array_mut).into_iter().flatten() {
        if parameter.get("in").and_then(Value::as_str) == Some("path")
            && parameter.get("name").and_then(Value::as_str) == Some(old)
        {
            parameter["name"] = json!(new);
        }
    }
}

/// Sorts every all-string `enum`: upstream builds some from Python sets, so
/// their order changes between runs and would churn the generated code.
pub fn sort_string_enums(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(values)) = map.get_mut("enum")
                && values.iter().all(Value::is_string)
            {
                values.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
            map.values_mut().for_each(sort_string_enums);
        }
        Value::Array(items) => items.iter_mut().for_each(sort_string_enums),
        _ => {}
    }
}

/// Checks the limits progenitor 0.15 panics on, naming the operation, so a
/// new upstream document fails here with a reason rather than in build.rs.
pub fn check_progenitor_limits(doc: &mut Value) -> Result<()> {
    for (path, method, op) in operations_mut(doc) {
        let Some(id) = op.get("operationId").and_then(Value::as_str) else {
            bail!("{method} {path} has no operationId; give it one in the overlay");
        };
        if let Some(content) = op
            .get("requestBody")
            .and_then(|b| b.get("content"))
            .and_then(Value::as_object)
        {
            if content.len() > 1 {
                bail!("{id}: a request body with several media types; keep one in the overlay");
            }
            if content.values().any(|body| body.get("encoding").is_some()) {
                bail!("{id}: request body `encoding` is not supported by progenitor");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mistyped_defaults_are_dropped_and_good_ones_kept() {
        let mut schema = json!({"properties": {
            "size": {"type": "string", "default": 10},
            "page": {"type": "integer", "default": 1},
            "granularity": {"type": "object", "default": "other"},
            "availability": {"type": "number", "example": "99.99"}
        }});
        drop_mistyped_defaults(&mut schema);
        assert!(schema["properties"]["size"].get("default").is_none());
        assert_eq!(schema["properties"]["page"]["default"], 1);
        assert!(schema["properties"]["granularity"].get("default").is_none());
        assert!(
            schema["properties"]["availability"]
                .get("example")
                .is_none()
        );
    }

    #[test]
    fn response_schemas_are_loosened_and_request_schemas_kept() {
        let mut doc = json!({
            "paths": {"/d/": {
                "get": {"operationId": "read", "responses": {"200": {"description": "", "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Read"}}}}}},
                "post": {"operationId": "write", "requestBody": {"content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Write"}}}},
                    "responses": {"201": {"description": ""}, "400": {"description": ""}}}
            }},
            "components": {"schemas": {
                "Read": {"type": "object", "required": ["id"], "properties": {
                    "id": {"type": "string", "maxLength": 5},
                    "kind": {"type": "string", "enum": ["b", "a"]},
                    "inner": {"$ref": "#/components/schemas/Inner"}}},
                "Inner": {"type": "object", "required": ["x"], "properties": {"x": {"type": "array", "items": {"type": "string"}}}},
                "Write": {"type": "object", "required": ["id"], "properties": {"kind": {"type": "string", "enum": ["b", "a"]}}}
            }}
        });
        drop_error_responses(&mut doc);
        loosen_response_schemas(&mut doc);
        let read = &doc["components"]["schemas"]["Read"];
        assert!(read.get("required").is_none());
        assert_eq!(
            read["properties"]["id"],
            json!({"type": "string", "nullable": true})
        );
        assert_eq!(
            read["properties"]["kind"]["description"],
            "Known values: a, b."
        );
        assert!(
            read["properties"]["inner"].get("nullable").is_none(),
            "a bare $ref stays bare"
        );
        assert_eq!(
            doc["components"]["schemas"]["Inner"]["properties"]["x"]["nullable"],
            true
        );
        let write = &doc["components"]["schemas"]["Write"];
        assert_eq!(write["required"], json!(["id"]));
        assert_eq!(write["properties"]["kind"]["enum"], json!(["b", "a"]));
        assert!(
            doc["paths"]["/d/"]["post"]["responses"]
                .get("400")
                .is_none()
        );
    }

    #[test]
    fn multipart_operations_are_listed_not_lost() {
        let mut doc = json!({"paths": {"/up/": {"post": {"operationId": "upload",
            "requestBody": {"content": {"multipart/form-data": {"schema": {}}}}, "responses": {}}}}});
        exclude_multipart(&mut doc);
        assert!(doc["paths"].get("/up/").is_none());
        assert_eq!(doc[EXCLUDED_EXTENSION][0]["operationId"], "upload");
        assert_eq!(doc[EXCLUDED_EXTENSION][0]["method"], "POST");
    }

    #[test]
    fn snake_case_parameter_clashes_rename_the_path_parameter() {
        let mut doc = json!({"paths": {"/c.{_format}": {"get": {"operationId": "c", "parameters": [
            {"name": "_format", "in": "path", "required": true, "schema": {"type": "string"}},
            {"name": "format", "in": "query", "schema": {"type": "string"}}], "responses": {}}}}});
        unique_parameter_names(&mut doc);
        let op = &doc["paths"]["/c.{path_format}"]["get"];
        assert_eq!(op["parameters"][0]["name"], "path_format");
        assert_eq!(op["parameters"][1]["name"], "format");
    }

    #[test]
    fn colliding_component_names_get_a_suffix() {
        let mut doc = json!({"paths": {}, "components": {"schemas": {
            "Resource": {"properties": {"type": {"type": "string", "enum": ["main"]},
                         "def": {"$ref": "#/components/schemas/ResourceType"}}},
            "ResourceType": {"properties": {"id": {"type": "string"}}}}}});
        rename_colliding_components(&mut doc);
        assert!(
            doc["components"]["schemas"]
                .get("ResourceTypeDef")
                .is_some()
        );
        assert_eq!(
            doc["components"]["schemas"]["Resource"]["properties"]["def"]["$ref"],
            "#/components/schemas/ResourceTypeDef"
        );
    }

    #[test]
    fn mixed_success_responses_keep_the_typed_one() {
        let mut doc = json!({"paths": {"/t/": {"put": {"operationId": "t", "responses": {
            "200": {"description": "", "content": {"application/json": {"schema": {"type": "object"}}}},
            "204": {"description": ""}}}}}});
        uniform_success_responses(&mut doc).unwrap();
        assert!(doc["paths"]["/t/"]["put"]["responses"].get("204").is_none());
        assert!(doc["paths"]["/t/"]["put"]["responses"].get("200").is_some());
    }
}
