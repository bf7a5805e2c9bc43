//! Rows of record batches as JSON values, for programs that print or send
//! them (the CLI's outputs, the MCP server's answers).

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{
    DataType, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type,
    UInt16Type, UInt32Type, UInt64Type,
};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use serde_json::Value;

/// The values of a batch, row by row, in the schema's column order:
/// numbers and booleans as JSON's, NULL as `null`, other values (text,
/// dates, timestamps…) as Arrow writes them; a float with no JSON number
/// (NaN, the infinities) as its text.
pub fn json_rows(batch: &RecordBatch) -> Vec<Vec<Value>> {
    let options = FormatOptions::default();
    let formatters: Vec<_> = batch
        .columns()
        .iter()
        .map(|column| ArrayFormatter::try_new(column.as_ref(), &options).ok())
        .collect();
    (0..batch.num_rows())
        .map(|row| {
            batch
                .columns()
                .iter()
                .zip(&formatters)
                .map(|(column, formatter)| cell(column, formatter.as_ref(), row))
                .collect()
        })
        .collect()
}

fn cell(column: &ArrayRef, formatter: Option<&ArrayFormatter>, row: usize) -> Value {
    if column.is_null(row) {
        return Value::Null;
    }
    macro_rules! int {
        ($t:ty) => {
            Value::from(column.as_primitive::<$t>().value(row))
        };
    }
    match column.data_type() {
        DataType::Boolean => Value::Bool(column.as_boolean().value(row)),
        DataType::Int8 => int!(Int8Type),
        DataType::Int16 => int!(Int16Type),
        DataType::Int32 => int!(Int32Type),
        DataType::Int64 => int!(Int64Type),
        DataType::UInt8 => int!(UInt8Type),
        DataType::UInt16 => int!(UInt16Type),
        DataType::UInt32 => int!(UInt32Type),
        DataType::UInt64 => int!(UInt64Type),
        DataType::Float32 => number(f64::from(column.as_primitive::<Float32Type>().value(row))),
        DataType::Float64 => number(column.as_primitive::<Float64Type>().value(row)),
        _ => Value::String(
            formatter
                .map(|f| f.value(row).to_string())
                .unwrap_or_default(),
        ),
    }
}

fn number(value: f64) -> Value {
    serde_json::Number::from_f64(value)
        .map_or_else(|| Value::String(value.to_string()), Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{BooleanArray, Float64Array, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    #[test]
    fn values_keep_their_json_kind() {
        let schema = Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new("x", DataType::Float64, true),
            Field::new("b", DataType::Boolean, true),
            Field::new("s", DataType::Utf8, true),
        ]);
        let batch = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int64Array::from(vec![Some(1), None])),
                Arc::new(Float64Array::from(vec![Some(1.5), Some(f64::NAN)])),
                Arc::new(BooleanArray::from(vec![Some(true), None])),
                Arc::new(StringArray::from(vec![Some("é"), Some("")])),
            ],
        )
        .unwrap();
        assert_eq!(
            json_rows(&batch),
            vec![
                vec![
                    Value::from(1),
                    Value::from(1.5),
                    Value::Bool(true),
                    Value::from("é")
                ],
                vec![
                    Value::Null,
                    Value::from("NaN"),
                    Value::Null,
                    Value::from("")
                ],
            ]
        );
    }
}
