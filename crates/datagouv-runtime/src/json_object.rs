//! [`JsonObject`]: the free-form objects of the API (`extras`, `metrics`,
//! `quality`, …), kept as the JSON text the server sent.

use std::{fmt, str::FromStr};

use serde::{
    Deserialize, Deserializer, Serialize, Serializer,
    de::{self, DeserializeOwned, MapAccess, Visitor},
};
use serde_json::{Map, Value};

/// A JSON object whose keys the API does not fix: a dataset's or a
/// resource's `extras`, the `metrics` and `quality` summaries, and every
/// other schema the specs declare as a free-form object.
///
/// It holds the object's JSON text as the server sent it, checked to be an
/// object but not taken apart: a list of 100 datasets carries about 20,000
/// such keys and values, and reading them into maps would be most of the
/// decoding's allocations, whether or not anybody looks at them. Read the
/// object when you need it, into a map or into a type of your own:
///
/// ```
/// use datagouv_runtime::JsonObject;
/// use serde::Deserialize;
///
/// let metrics: JsonObject = serde_json::from_str(r#"{"views": 12, "reuses": 1}"#)?;
/// assert_eq!(metrics.get("views"), Some(serde_json::json!(12)));
///
/// #[derive(Deserialize)]
/// struct Counts { views: u64, reuses: u64 }
/// let counts: Counts = metrics.parse()?;
/// assert_eq!((counts.views, counts.reuses), (12, 1));
/// # Ok::<(), serde_json::Error>(())
/// ```
///
/// To send one (the write types use it too), build it from a map or a
/// `json!` object: `JsonObject::try_from(json!({"key": "value"}))`.
#[derive(Clone)]
pub struct JsonObject(
    /// Always the text of one JSON object, without surrounding whitespace.
    Box<str>,
);

impl JsonObject {
    /// An empty object, `{}`.
    pub fn new() -> Self {
        Self("{}".into())
    }

    /// The object's JSON text, as the server sent it.
    pub fn as_json(&self) -> &str {
        &self.0
    }

    /// Reads the object into a type of your own (a struct with the keys
    /// you expect, a `HashMap`, …).
    ///
    /// # Errors
    /// When the object does not have the shape `T` expects.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.0)
    }

    /// The object as a `serde_json` map.
    pub fn to_map(&self) -> Map<String, Value> {
        self.parse()
            .expect("a JsonObject holds a JSON object (checked when it was made)")
    }

    /// The value under `key`, if the object has one.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.to_map().remove(key)
    }

    /// Whether the object has no keys.
    pub fn is_empty(&self) -> bool {
        // The text is a valid object: after `{` comes `}` or a key.
        self.0[1..].trim_start().starts_with('}')
    }
}

impl Default for JsonObject {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for JsonObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for JsonObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Two objects are equal when they hold the same keys and values, whatever
/// their order and spacing.
impl PartialEq for JsonObject {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0 || self.to_map() == other.to_map()
    }
}

impl From<Map<String, Value>> for JsonObject {
    fn from(map: Map<String, Value>) -> Self {
        let text = serde_json::to_string(&map).expect("a JSON map always serialises");
        Self(text.into_boxed_str())
    }
}

impl From<JsonObject> for Map<String, Value> {
    fn from(object: JsonObject) -> Self {
        object.to_map()
    }
}

impl TryFrom<Value> for JsonObject {
    type Error = NotAnObject;

    /// Accepts a JSON object (`json!({...})`); any other value is refused.
    fn try_from(value: Value) -> Result<Self, Self::Error> {
        match value {
            Value::Object(map) => Ok(map.into()),
            other => Err(NotAnObject(kind(&other))),
        }
    }
}

impl FromStr for JsonObject {
    type Err = serde_json::Error;

    /// Parses JSON text that must be an object.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        serde_json::from_str(text)
    }
}

impl Serialize for JsonObject {
    /// Writes the object as a map, so every format (JSON, YAML, …) gets an
    /// object; keys come in the order of a `serde_json` map (sorted, unless
    /// serde_json's `preserve_order` feature is on).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_map().serialize(serializer)
    }
}

/// The name under which serde_json hands a value over as its raw text (what
/// its own `RawValue` asks for). Only the speed depends on it: a deserializer
/// that does not know it hands over a map, which is read and written back.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

impl<'de> Deserialize<'de> for JsonObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_newtype_struct(RAW_VALUE_TOKEN, ObjectVisitor)
    }
}

struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = JsonObject;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    /// serde_json: one entry, the token and the value's text, which its
    /// parser has already checked (while skipping over it).
    /// Other formats: the object itself.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonObject, A::Error> {
        let mut object = Map::new();
        match map.next_key::<Key>()? {
            None => {}
            Some(Key::Raw) => {
                let Text(text) = map.next_value()?;
                return if text.starts_with('{') {
                    Ok(JsonObject(text))
                } else {
                    let value: Value = serde_json::from_str(&text).map_err(de::Error::custom)?;
                    Err(de::Error::custom(NotAnObject(kind(&value))))
                };
            }
            Some(Key::Field(key)) => {
                object.insert(key, map.next_value()?);
            }
        }
        while let Some((key, value)) = map.next_entry()? {
            object.insert(key, value);
        }
        Ok(object.into())
    }

    /// Serde's buffered formats (untagged enums, flattened fields) hand the
    /// value over this way: read it as a map.
    fn visit_newtype_struct<D: Deserializer<'de>>(self, inner: D) -> Result<JsonObject, D::Error> {
        match Value::deserialize(inner)? {
            Value::Object(map) => Ok(map.into()),
            other => Err(de::Error::custom(NotAnObject(kind(&other)))),
        }
    }
}

/// A map key: serde_json's raw-value token, or a real key. Its own visitor
/// (not [`Text`]'s) so that the token, met once per object, costs no allocation.
enum Key {
    Raw,
    Field(String),
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(if key == RAW_VALUE_TOKEN {
                    Key::Raw
                } else {
                    Key::Field(key.to_owned())
                })
            }
            fn visit_string<E: de::Error>(self, key: String) -> Result<Key, E> {
                Ok(if key == RAW_VALUE_TOKEN {
                    Key::Raw
                } else {
                    Key::Field(key)
                })
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// The raw text serde_json hands over.
struct Text(Box<str>);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl Visitor<'_> for TextVisitor {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("JSON text")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Text, E> {
                Ok(Text(text.into()))
            }
            fn visit_string<E: de::Error>(self, text: String) -> Result<Text, E> {
                Ok(Text(text.into_boxed_str()))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// The error of [`JsonObject::try_from`] for a value that is not an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotAnObject(&'static str);

impl fmt::Display for NotAnObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "expected a JSON object, found {}", self.0)
    }
}

impl std::error::Error for NotAnObject {}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_the_text_and_reads_it_on_demand() {
        let object: JsonObject =
            serde_json::from_str(r#" {"b": [1, {"c": null}], "a": "é\"x"} "#).unwrap();
        assert_eq!(object.as_json(), r#"{"b": [1, {"c": null}], "a": "é\"x"}"#);
        assert_eq!(object.get("a"), Some(json!("é\"x")));
        assert_eq!(object.get("missing"), None);
        assert!(!object.is_empty());
        assert!(JsonObject::new().is_empty());
        assert!("{ }".parse::<JsonObject>().unwrap().is_empty());
        let written = serde_json::to_string(&object).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&written).unwrap(),
            json!({"a": "é\"x", "b": [1, {"c": null}]})
        );
        // `to_value` (and so pretty printing through a Value) takes it apart.
        assert_eq!(
            serde_json::to_value(&object).unwrap(),
            json!({"a": "é\"x", "b": [1, {"c": null}]})
        );
    }

    #[test]
    fn refuses_what_is_not_an_object() {
        for (text, found) in [
            ("[1]", "an array"),
            ("\"x\"", "a string"),
            ("3", "a number"),
            ("null", "null"),
        ] {
            let error = serde_json::from_str::<JsonObject>(text).unwrap_err();
            assert!(
                error
                    .to_string()
                    .contains(&format!("expected a JSON object, found {found}")),
                "{text}: {error}"
            );
        }
        assert_eq!(
            JsonObject::try_from(json!(true)).unwrap_err().to_string(),
            "expected a JSON object, found a boolean"
        );
        assert!(serde_json::from_str::<JsonObject>("{\"a\": }").is_err());
    }

    #[test]
    fn decodes_inside_untagged_enums_and_from_values() {
        #[derive(Deserialize, Debug)]
        #[serde(untagged)]
        enum Either {
            Text(String),
            Object(JsonObject),
        }
        let Either::Object(object) = serde_json::from_str(r#"{"name": "Commune"}"#).unwrap() else {
            panic!("an object")
        };
        assert_eq!(object.get("name"), Some(json!("Commune")));
        assert!(matches!(
            serde_json::from_str(r#""x""#).unwrap(),
            Either::Text(text) if text == "x"
        ));
        assert!(serde_json::from_str::<Either>("[1]").is_err());

        let object: JsonObject = serde_json::from_value(json!({"a": [1, 2]})).unwrap();
        assert_eq!(object.as_json(), r#"{"a":[1,2]}"#);
        let error = serde_json::from_value::<JsonObject>(json!(1)).unwrap_err();
        assert!(error.to_string().contains("found a number"), "{error}");
        // A format that does not know serde_json's token hands over the map.
        let entries = vec![("a", 1), ("b", 2)].into_iter();
        let object = JsonObject::deserialize(serde::de::value::MapDeserializer::<
            _,
            serde::de::value::Error,
        >::new(entries))
        .unwrap();
        assert_eq!(
            object,
            JsonObject::try_from(json!({"a": 1, "b": 2})).unwrap()
        );
        // From a reader serde_json hands the text over owned.
        let object: JsonObject = serde_json::from_reader(&b"{\"b\": true}"[..]).unwrap();
        assert_eq!(object.get("b"), Some(json!(true)));
    }

    #[test]
    fn equality_ignores_order_and_spacing() {
        let one: JsonObject = r#"{"a":1,"b":2}"#.parse().unwrap();
        let two: JsonObject = r#"{ "b": 2, "a": 1 }"#.parse().unwrap();
        let three = JsonObject::try_from(json!({"a": 1, "b": 3})).unwrap();
        assert_eq!(one, two);
        assert_ne!(one, three);
        assert_eq!(Map::from(three.clone()), three.to_map());
    }
}
