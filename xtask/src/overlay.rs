//! The overlay: reasoned corrections to an upstream document, kept as data.
//!
//! Each API has a file `specs/overlay/<api>.yaml` holding a list of
//! corrections. A correction names one target (a component schema or one of
//! its properties, an operation or one of its responses or parameters, or a
//! raw JSON pointer), one action, and a one-line `reason`. Corrections apply
//! to the OpenAPI 3 form of the document, with component names as the
//! converter made them (`Dataset (read)` → `DatasetRead`), before the general
//! rules run. A correction whose target no longer exists is an error: the
//! upstream document changed and the overlay must be reviewed.

use anyhow::{Context, Result, bail, ensure};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::path::Path;

use crate::convert::METHODS;

/// All corrections of one API, in the order they apply.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overlay {
    /// The corrections.
    #[serde(default)]
    pub corrections: Vec<Correction>,
    /// Response fields the server guarantees: required and not nullable in
    /// the read types, though every other response field is loosened.
    #[serde(default)]
    pub guaranteed: Vec<Guarantee>,
}

/// Fields of one response schema that the server always sends, non-null,
/// and the evidence for it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Guarantee {
    /// The component schema, by its OpenAPI 3 name.
    pub schema: String,
    /// Its properties that every answer carries.
    pub fields: Vec<String>,
    /// Why: the server's model and serialisation that guarantee them.
    pub evidence: String,
}

/// One correction: a target, an action and the reason for it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Correction {
    /// Why upstream is wrong or incomplete here (one line).
    pub reason: String,
    /// Target: a component schema by its OpenAPI 3 name.
    pub schema: Option<String>,
    /// Target: with `schema`, one of its properties.
    pub property: Option<String>,
    /// Target: one or more operations by upstream `operationId`.
    pub operation: Option<OneOrMany>,
    /// Target: with `operation`, one response status code.
    pub response: Option<String>,
    /// Target: with `operation`, one parameter by name (operation or path level).
    pub parameter: Option<String>,
    /// Target: a JSON pointer into the OpenAPI 3 document.
    pub pointer: Option<String>,
    /// Action: replace the target (creating it if its parent exists).
    pub set: Option<Value>,
    /// Action: merge these keys into the target object (creating it if absent).
    pub merge: Option<Value>,
    /// Action: delete the target.
    #[serde(default)]
    pub remove: bool,
    /// Action (operations only): give the operation a clearer `operationId`.
    pub rename: Option<String>,
}

/// One name or a list of names.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// A single name.
    One(String),
    /// Several names sharing one correction.
    Many(Vec<String>),
}

impl OneOrMany {
    fn names(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(name) => vec![name.as_str()],
            OneOrMany::Many(names) => names.iter().map(String::as_str).collect(),
        }
    }
}

impl Overlay {
    /// Reads an overlay file; a missing file is an empty overlay.
    pub fn load(path: &Path) -> Result<Self> {
        if !path.exists() {
            return Ok(Self::default());
        }
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let overlay: Overlay = serde_yaml::from_str(&text)
            .with_context(|| format!("{} is not a valid overlay", path.display()))?;
        for (index, correction) in overlay.corrections.iter().enumerate() {
            correction
                .validate()
                .with_context(|| format!("{}: correction #{}", path.display(), index + 1))?;
        }
        Ok(overlay)
    }

    /// Applies every correction in order.
    pub fn apply(&self, doc: &mut Value) -> Result<()> {
        for (index, correction) in self.corrections.iter().enumerate() {
            correction.apply(doc).with_context(|| {
                format!("overlay correction #{} ({})", index + 1, correction.reason)
            })?;
        }
        Ok(())
    }
}

impl Correction {
    fn validate(&self) -> Result<()> {
        ensure!(
            !self.reason.trim().is_empty(),
            "every correction needs a `reason`"
        );
        let targets = [
            self.schema.is_some(),
            self.operation.is_some(),
            self.pointer.is_some(),
        ];
        ensure!(
            targets.iter().filter(|t| **t).count() == 1,
            "name exactly one of `schema`, `operation`, `pointer`"
        );
        ensure!(
            self.property.is_none() || self.schema.is_some(),
            "`property` goes with `schema`"
        );
        ensure!(
            (self.response.is_none() && self.parameter.is_none()) || self.operation.is_some(),
            "`response` and `parameter` go with `operation`"
        );
        let actions = [
            self.set.is_some(),
            self.merge.is_some(),
            self.remove,
            self.rename.is_some(),
        ];
        ensure!(
            actions.iter().filter(|a| **a).count() == 1,
            "give exactly one of `set`, `merge`, `remove`, `rename`"
        );
        for value in [&self.set, &self.merge].into_iter().flatten() {
            if let Some(key) = split_flow_string(value) {
                bail!(
                    "the key `{key}` has no value: quote the text before it (a comma in an unquoted YAML flow string splits it)"
                );
            }
        }
        ensure!(
            self.rename.is_none()
                || (self.operation.is_some()
                    && self.response.is_none()
                    && self.parameter.is_none()),
            "`rename` applies to an operation"
        );
        Ok(())
    }

    fn apply(&self, doc: &mut Value) -> Result<()> {
        for pointer in self.pointers(doc)? {
            if let Some(new_id) = &self.rename {
                let operation = doc.pointer_mut(&pointer).context("operation vanished")?;
                let old = operation["operationId"].clone();
                operation["operationId"] = json!(new_id);
                operation["x-upstream-operation-id"] = old;
            } else if self.remove {
                remove_at(doc, &pointer)?;
            } else if let Some(value) = &self.set {
                set_at(doc, &pointer, value.clone())?;
            } else if let Some(Value::Object(keys)) = &self.merge {
                if doc.pointer(&pointer).is_none() {
                    set_at(doc, &pointer, Value::Object(Map::new()))?;
                }
                let target = doc
                    .pointer_mut(&pointer)
                    .and_then(Value::as_object_mut)
                    .context("target is not an object")?;
                for (key, value) in keys {
                    target.insert(key.clone(), value.clone());
                }
            } else {
                bail!("`merge` takes an object");
            }
        }
        Ok(())
    }

    /// The JSON pointers this correction addresses; errors if any is gone.
    fn pointers(&self, doc: &Value) -> Result<Vec<String>> {
        if let Some(pointer) = &self.pointer {
            return Ok(vec![pointer.clone()]);
        }
        if let Some(schema) = &self.schema {
            let base = format!("/components/schemas/{}", escape(schema));
            ensure!(
                doc.pointer(&base).is_some(),
                "schema `{schema}` does not exist"
            );
            return Ok(vec![match &self.property {
                Some(property) => {
                    let pointer = format!("{base}/properties/{}", escape(property));
                    ensure!(
                        doc.pointer(&pointer).is_some() || self.set.is_some(),
                        "schema `{schema}` has no property `{property}`"
                    );
                    pointer
                }
                None => base,
            }]);
        }
        let mut pointers = Vec::new();
        for name in self
            .operation
            .as_ref()
            .map(OneOrMany::names)
            .unwrap_or_default()
        {
            let (path, method) = find_operation(doc, name)?;
            let base = format!("/paths/{}/{method}", escape(&path));
            let pointer = if let Some(code) = &self.response {
                format!("{base}/responses/{}", escape(code))
            } else if let Some(parameter) = &self.parameter {
                parameter_pointer(doc, &path, &base, parameter)
                    .with_context(|| format!("operation `{name}` has no parameter `{parameter}`"))?
            } else {
                base
            };
            if self.remove || self.merge.is_none() && self.set.is_none() {
                ensure!(
                    doc.pointer(&pointer).is_some(),
                    "`{pointer}` does not exist"
                );
            }
            pointers.push(pointer);
        }
        Ok(pointers)
    }
}

/// A key with a null value and a space in it: the trace of an unquoted YAML
/// flow string that a comma split into two keys.
fn split_flow_string(value: &Value) -> Option<String> {
    match value {
        Value::Object(map) => map.iter().find_map(|(key, child)| {
            if child.is_null() && key.contains(' ') {
                Some(key.clone())
            } else {
                split_flow_string(child)
            }
        }),
        Value::Array(items) => items.iter().find_map(split_flow_string),
        _ => None,
    }
}

/// Finds an operation by `operationId`, returning its path and method.
pub fn find_operation(doc: &Value, operation_id: &str) -> Result<(String, String)> {
    for (path, item) in doc
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        for method in METHODS {
            if item
                .get(*method)
                .and_then(|op| op.get("operationId"))
                .and_then(Value::as_str)
                == Some(operation_id)
            {
                return Ok((path.clone(), (*method).to_owned()));
            }
        }
    }
    bail!("no operation has operationId `{operation_id}`")
}

fn parameter_pointer(doc: &Value, path: &str, base: &str, name: &str) -> Option<String> {
    let find = |pointer: String| {
        let list = doc.pointer(&pointer)?.as_array()?;
        let index = list
            .iter()
            .position(|p| p.get("name").and_then(Value::as_str) == Some(name))?;
        Some(format!("{pointer}/{index}"))
    };
    find(format!("{base}/parameters"))
        .or_else(|| find(format!("/paths/{}/parameters", escape(path))))
}

/// Escapes one JSON pointer segment.
pub fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn split_parent(pointer: &str) -> Result<(&str, String)> {
    let (parent, last) = pointer
        .rsplit_once('/')
        .with_context(|| format!("bad pointer `{pointer}`"))?;
    Ok((parent, last.replace("~1", "/").replace("~0", "~")))
}

fn set_at(doc: &mut Value, pointer: &str, value: Value) -> Result<()> {
    let (parent, key) = split_parent(pointer)?;
    match doc
        .pointer_mut(parent)
        .with_context(|| format!("`{parent}` does not exist"))?
    {
        Value::Object(map) => {
            map.insert(key, value);
        }
        Value::Array(items) => {
            let index: usize = key
                .parse()
                .with_context(|| format!("`{key}` is not an index"))?;
            *items
                .get_mut(index)
                .with_context(|| format!("no item {index} in `{parent}`"))? = value;
        }
        _ => bail!("`{parent}` is neither an object nor a list"),
    }
    Ok(())
}

fn remove_at(doc: &mut Value, pointer: &str) -> Result<()> {
    let (parent, key) = split_parent(pointer)?;
    match doc
        .pointer_mut(parent)
        .with_context(|| format!("`{parent}` does not exist"))?
    {
        Value::Object(map) => {
            map.shift_remove(&key)
                .with_context(|| format!("`{pointer}` does not exist"))?;
        }
        Value::Array(items) => {
            let index: usize = key
                .parse()
                .with_context(|| format!("`{key}` is not an index"))?;
            ensure!(index < items.len(), "`{pointer}` does not exist");
            items.remove(index);
        }
        _ => bail!("`{parent}` is neither an object nor a list"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        json!({
            "paths": {"/a/{id}/": {
                "parameters": [{"name": "id", "in": "path"}],
                "get": {"operationId": "get_a", "parameters": [{"name": "q", "in": "query"}],
                        "responses": {"200": {"description": "ok"}}}
            }},
            "components": {"schemas": {"A": {"type": "object", "properties": {"x": {"type": "object"}}}}}
        })
    }

    fn overlay(yaml: &str) -> Overlay {
        let overlay: Overlay = serde_yaml::from_str(yaml).unwrap();
        for correction in &overlay.corrections {
            correction.validate().unwrap();
        }
        overlay
    }

    #[test]
    fn corrections_reach_schemas_operations_responses_and_parameters() {
        let mut doc = doc();
        overlay(
            r#"
corrections:
  - {schema: A, property: x, set: {}, reason: "any JSON"}
  - {operation: get_a, response: "200", merge: {content: {text/csv: {}}}, reason: "CSV"}
  - {operation: get_a, parameter: id, merge: {description: "the id"}, reason: "doc"}
  - {operation: get_a, rename: read_a, reason: "clearer"}
"#,
        )
        .apply(&mut doc)
        .unwrap();
        assert_eq!(
            doc["components"]["schemas"]["A"]["properties"]["x"],
            json!({})
        );
        assert!(
            doc["paths"]["/a/{id}/"]["get"]["responses"]["200"]["content"]["text/csv"].is_object()
        );
        assert_eq!(
            doc["paths"]["/a/{id}/"]["parameters"][0]["description"],
            "the id"
        );
        assert_eq!(doc["paths"]["/a/{id}/"]["get"]["operationId"], "read_a");
        assert_eq!(
            doc["paths"]["/a/{id}/"]["get"]["x-upstream-operation-id"],
            "get_a"
        );
    }

    #[test]
    fn a_correction_that_no_longer_applies_is_an_error() {
        let mut doc = doc();
        let err = overlay("corrections: [{schema: B, remove: true, reason: gone}]")
            .apply(&mut doc)
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("schema `B` does not exist"),
            "{err:#}"
        );
        let err = overlay("corrections: [{operation: nope, remove: true, reason: gone}]")
            .apply(&mut doc)
            .unwrap_err();
        assert!(
            format!("{err:#}").contains("no operation has operationId `nope`"),
            "{err:#}"
        );
    }

    #[test]
    fn an_unquoted_flow_string_split_by_a_comma_is_refused() {
        let bad: Overlay = serde_yaml::from_str(
            "corrections: [{schema: A, set: {description: The rows, one per line}, reason: x}]",
        )
        .unwrap();
        let err = bad.corrections[0].validate().unwrap_err();
        assert!(err.to_string().contains("`one per line`"), "{err}");
    }

    #[test]
    fn a_correction_needs_one_target_one_action_and_a_reason() {
        let bad: Overlay =
            serde_yaml::from_str("corrections: [{schema: A, remove: true, set: 1, reason: x}]")
                .unwrap();
        assert!(bad.corrections[0].validate().is_err());
        let bad: Overlay =
            serde_yaml::from_str("corrections: [{schema: A, remove: true, reason: ' '}]").unwrap();
        assert!(bad.corrections[0].validate().is_err());
    }
}
