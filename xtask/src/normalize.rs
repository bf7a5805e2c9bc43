//! The normalisation pipeline: upstream document → OpenAPI 3.0.3 that
//! progenitor generates a working client from.
//!
//! Steps: parse (JSON or YAML), convert Swagger 2.0 to OpenAPI 3.0.3,
//! apply the API's overlay of point corrections, apply the general rules,
//! check that the result is a valid `openapiv3` document.

use anyhow::{Context, Result};
use serde_json::{Map, Value};
use std::path::Path;

use crate::{apis::Api, convert, overlay::Overlay, rules};

/// Parses an upstream document, JSON or YAML (integer keys become strings).
pub fn parse_document(text: &str) -> Result<Value> {
    if let Ok(value) = serde_json::from_str(text) {
        return Ok(value);
    }
    let yaml: serde_yaml::Value = serde_yaml::from_str(text).context("neither JSON nor YAML")?;
    yaml_to_json(yaml)
}

fn yaml_to_json(value: serde_yaml::Value) -> Result<Value> {
    use serde_yaml::Value as Y;
    Ok(match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(&n)?,
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => {
            Value::Array(items.into_iter().map(yaml_to_json).collect::<Result<_>>()?)
        }
        Y::Mapping(mapping) => {
            let mut map = Map::new();
            for (key, value) in mapping {
                let key = match key {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    other => anyhow::bail!("unsupported YAML key {other:?}"),
                };
                map.insert(key, yaml_to_json(value)?);
            }
            Value::Object(map)
        }
        Y::Tagged(tagged) => yaml_to_json(tagged.value)?,
    })
}

/// Normalises one upstream document with the overlay found under `root`.
pub fn normalize(api: Api, upstream: &Value, root: &Path) -> Result<Value> {
    let overlays = api
        .overlay_paths()
        .iter()
        .map(|path| Overlay::load(&root.join(path)))
        .collect::<Result<Vec<_>>>()?;
    normalize_with(upstream, &overlays).with_context(|| format!("normalising {}", api.key()))
}

/// Normalises one upstream document with the given overlays, in order.
pub fn normalize_with(upstream: &Value, overlays: &[Overlay]) -> Result<Value> {
    let mut doc = if upstream.get("swagger").is_some() {
        convert::swagger2_to_openapi3(upstream)?
    } else {
        upstream.clone()
    };
    for overlay in overlays {
        overlay.apply(&mut doc)?;
    }
    let guaranteed: Vec<_> = overlays.iter().flat_map(|o| &o.guaranteed).collect();
    rules::apply_all(&mut doc, &guaranteed)?;
    serde_json::from_value::<openapiv3::OpenAPI>(doc.clone())
        .context("the result is not a valid OpenAPI 3.0 document")?;
    Ok(doc)
}

/// The normalised document as committed: pretty JSON with a final newline.
pub fn render(doc: &Value) -> String {
    let mut text = serde_json::to_string_pretty(doc).expect("a JSON value always serialises");
    text.push('\n');
    text
}
