//! The field names of a generated model, read from its `Deserialize`
//! implementation: what a caller may name (`--fields`, the keys of a
//! dataset update) is checked against the type itself, so the list never
//! drifts from the generated code.

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// The JSON names of the fields of `T`, as its `Deserialize` implementation
/// declares them (a struct with named fields; empty for any other type,
/// e.g. a map or a struct with a flattened field).
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct Point { x: i32, #[serde(rename = "y_value")] y: i32 }
/// assert_eq!(datagouv::model_fields::<Point>(), ["x", "y_value"]);
/// ```
pub fn model_fields<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    // The probe records the names and then refuses to produce a value.
    let _ = T::deserialize(Probe {
        fields: &mut fields,
    });
    fields
}

/// A deserializer that only records the field list it is asked for.
struct Probe<'a> {
    fields: &'a mut &'static [&'static str],
}

impl<'de> Deserializer<'de> for Probe<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("only the field names are read"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.fields = fields;
        Err(de::Error::custom("only the field names are read"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fields_of_generated_models() {
        let fields = model_fields::<crate::Dataset>();
        assert!(fields.contains(&"title") && fields.contains(&"organization"));
        assert!(model_fields::<serde_json::Value>().is_empty());
    }
}
