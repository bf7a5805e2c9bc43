//! Rows as Arrow: the CSV of a Tabular or Metrics export decoded into
//! typed Arrow [`RecordBatch`]es, in constant memory. The one typing code
//! of the SDK: record batch streams ([`Query::record_batches`]) and Parquet
//! exports both read through it.
//!
//! The CSV is the one api-tabular passes through from PostgREST, which
//! writes each row as PostgreSQL's record text, not plain RFC 4180:
//!
//! - a NULL is an empty unquoted field, an empty string is `""`: a string
//!   column keeps them apart (null and `""`), other types read both as null;
//! - a quoted field doubles `"` (RFC 4180) and also `\`: `"C:\\temp"` holds
//!   `C:\temp`, the value the JSON export gives. Inside quotes `\\` is read
//!   as one backslash; any other backslash is kept as is;
//! - booleans are `t`/`f`, timestamps `2024-03-30 22:15:00`, JSON its text;
//! - the header is not quoted (`say "hi"`): a `"` inside an unquoted field
//!   is a plain character, so both that header and a quoted one are read.
//!
//! PostgREST writes the header's names as they are, so a name holding a
//! comma or a line end, or starting with `"`, cannot be read back right.
//!
//! The CSV is parsed here rather than by arrow-csv because its reader
//! cannot tell `""` from an empty field and would keep the doubled
//! backslashes. Values go straight from the bytes into Arrow builders: a
//! row loop takes the plain fields (unquoted, or quoted without `""` or
//! `\\`) and leaves the rest to a byte-level state machine that also
//! carries a field across chunks; UTF-8 is checked once per chunk.
//!
//! Memory: the builders hold at most [`BATCH_ROWS`] rows.
//!
//! [`Query::record_batches`]: crate::Query::record_batches

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, PrimitiveBuilder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::types::ArrowPrimitiveType;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::Error;

/// Rows in a batch: the raw values of at most this many rows are held,
/// whatever the size of the window.
pub(crate) const BATCH_ROWS: usize = 8192;

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// The Arrow type of a column of the profile's `python_type` (`int`,
/// `float`, `bool`, `date`, `datetime`; anything else is text).
pub(crate) fn data_type(python_type: &str) -> DataType {
    match python_type {
        "int" => DataType::Int64,
        "float" => DataType::Float64,
        "bool" => DataType::Boolean,
        "date" => DataType::Date32,
        "datetime" => DataType::Timestamp(TimeUnit::Microsecond, None),
        _ => DataType::Utf8,
    }
}

/// Turns the CSV of an export into typed record batches.
pub(crate) struct BatchDecoder {
    /// Column name -> python type of the Tabular profile.
    types: HashMap<String, String>,
    /// Where the CSV reader is.
    at: At,
    /// The current field, when it spans chunks or is quoted.
    field: Vec<u8>,
    /// The current field started with a quote.
    quoted: bool,
    /// Fields of the current record read so far.
    fields_in_record: usize,
    /// The header's names, while the header is read.
    header: Vec<String>,
    /// The columns, once the header is read.
    table: Option<Table>,
    /// Rows read.
    rows: u64,
}

/// Where the CSV reader is, between two bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum At {
    /// At the start of a field.
    FieldStart,
    /// Inside an unquoted field (or after the closing quote of a quoted
    /// field followed by other characters, which are kept).
    Unquoted,
    /// Inside a quoted field.
    Quoted,
    /// Inside a quoted field, just after a `"`: its end or half of `""`.
    QuotedQuote,
    /// Inside a quoted field, just after a `\`: half of `\\` or a plain `\`.
    QuotedBackslash,
}

/// The columns, once the header is read.
struct Table {
    schema: SchemaRef,
    columns: Vec<Column>,
    /// Rows in the builders, not yet made a batch.
    batch_rows: usize,
}

struct Column {
    name: String,
    values: Values,
    /// Values the column's type could not hold.
    unreadable: u64,
}

enum Values {
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Date(Date32Builder),
    Datetime(TimestampMicrosecondBuilder),
    /// Strings and JSON; the bytes of the last batch size the next one.
    Text(StringBuilder, usize),
}

/// What a decoder read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecodeStats {
    /// Rows read.
    pub rows: u64,
    /// Per column, how many values its type could not hold (made null), only columns with at least one.
    pub unreadable: Vec<(String, u64)>,
}

impl BatchDecoder {
    /// `types`: column name -> python type from the Tabular profile ("int", "float", "bool", "date", "datetime",
    /// "string", "json"; anything else or absent = string). `__id` is always int64.
    pub(crate) fn new(types: HashMap<String, String>) -> BatchDecoder {
        BatchDecoder {
            types,
            at: At::FieldStart,
            field: Vec::new(),
            quoted: false,
            fields_in_record: 0,
            header: Vec::new(),
            table: None,
            rows: 0,
        }
    }

    /// Feeds bytes of one CSV document (comma separated, RFC 4180 quoting, '\n' line ends, first line = header;
    /// may be split anywhere, even inside a quoted field or a UTF-8 character). Appends to `out` the batches
    /// completed ([`BATCH_ROWS`] rows each).
    pub(crate) fn feed_csv(&mut self, csv: &[u8], out: &mut Vec<RecordBatch>) -> Result<(), Error> {
        // UTF-8 is checked once for the chunk: a field cut from it at its
        // (ASCII) delimiters is UTF-8 too. A field held across chunks is
        // checked on its own.
        let text = utf8_prefix(csv);
        let mut i = 0;
        while i < csv.len() {
            if self.at == At::FieldStart && self.fields_in_record == 0 {
                i = self.read_rows(csv, text, i, out)?;
                if i == csv.len() {
                    break;
                }
            }
            // A field the row loop leaves: escapes, cut by the chunk's end,
            // the header, a blank line or a malformed row.
            match self.at {
                At::FieldStart => match csv[i] {
                    b'"' => {
                        self.quoted = true;
                        self.at = At::Quoted;
                        i += 1;
                    }
                    b'\n' => {
                        if self.fields_in_record == 0 {
                            self.blank_line(out)?;
                        } else {
                            self.end_field(&[], Some(""), false)?;
                            self.end_record(out)?;
                        }
                        i += 1;
                    }
                    b',' => {
                        self.end_field(&[], Some(""), false)?;
                        i += 1;
                    }
                    _ => match find_field_end(&csv[i + 1..]) {
                        // The common case: the whole field is in this chunk.
                        Some(end) => {
                            let end = i + 1 + end;
                            self.end_field(&csv[i..end], text.get(i..end), false)?;
                            if csv[end] == b'\n' {
                                self.end_record(out)?;
                            }
                            i = end + 1;
                        }
                        None => {
                            self.field.extend_from_slice(&csv[i..]);
                            self.at = At::Unquoted;
                            i = csv.len();
                        }
                    },
                },
                At::Unquoted => match find_field_end(&csv[i..]) {
                    Some(end) => {
                        let end = i + end;
                        self.field.extend_from_slice(&csv[i..end]);
                        self.end_held_field()?;
                        if csv[end] == b'\n' {
                            self.end_record(out)?;
                        }
                        i = end + 1;
                    }
                    None => {
                        self.field.extend_from_slice(&csv[i..]);
                        i = csv.len();
                    }
                },
                At::Quoted => match find_quote_end(&csv[i..]) {
                    Some(stop) => {
                        let stop = i + stop;
                        self.field.extend_from_slice(&csv[i..stop]);
                        self.at = if csv[stop] == b'"' {
                            At::QuotedQuote
                        } else {
                            At::QuotedBackslash
                        };
                        i = stop + 1;
                    }
                    None => {
                        self.field.extend_from_slice(&csv[i..]);
                        i = csv.len();
                    }
                },
                At::QuotedQuote => {
                    match csv[i] {
                        b'"' => {
                            self.field.push(b'"');
                            self.at = At::Quoted;
                        }
                        b',' => self.end_held_field()?,
                        b'\n' => {
                            self.end_held_field()?;
                            self.end_record(out)?;
                        }
                        // Text after the closing quote: kept, as most readers do.
                        other => {
                            self.field.push(other);
                            self.at = At::Unquoted;
                        }
                    }
                    i += 1;
                }
                At::QuotedBackslash => {
                    // PostgreSQL doubles backslashes inside quotes; a lone one is kept and the
                    // byte after it read again.
                    self.field.push(b'\\');
                    self.at = At::Quoted;
                    if csv[i] == b'\\' {
                        i += 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// Ends a document (a window of up to 50,000 rows): appends the rows held as a last, shorter batch. The next
    /// bytes fed are a new document whose header must match this one (the windows of one query).
    pub(crate) fn end_window(&mut self, out: &mut Vec<RecordBatch>) -> Result<(), Error> {
        self.end_last_record(out)?;
        if let Some(table) = self.table.as_mut() {
            table.make_batch(out)?;
        }
        Ok(())
    }

    /// The schema, once a header was read.
    pub(crate) fn schema(&self) -> Option<SchemaRef> {
        self.table.as_ref().map(|table| table.schema.clone())
    }

    /// Ends the decoding: appends the rows held; the counts of what was read.
    pub(crate) fn finish(mut self, out: &mut Vec<RecordBatch>) -> Result<DecodeStats, Error> {
        self.end_last_record(out)?;
        let Some(mut table) = self.table.take() else {
            return Ok(DecodeStats {
                rows: self.rows,
                unreadable: Vec::new(),
            });
        };
        table.make_batch(out)?;
        Ok(DecodeStats {
            rows: self.rows,
            unreadable: table
                .columns
                .into_iter()
                .filter(|column| column.unreadable > 0)
                .map(|column| (column.name, column.unreadable))
                .collect(),
        })
    }

    /// Ends a record the CSV left without its final newline.
    fn end_last_record(&mut self, out: &mut Vec<RecordBatch>) -> Result<(), Error> {
        match self.at {
            At::FieldStart if self.fields_in_record == 0 => Ok(()),
            At::Quoted | At::QuotedBackslash => Err(Error::InvalidInput(format!(
                "cannot read the CSV of the export: it ends inside a quoted field (row {}); export again",
                self.rows + 1
            ))),
            _ => self.feed_csv(b"\n", out),
        }
    }

    /// Ends the field held in `self.field`.
    fn end_held_field(&mut self) -> Result<(), Error> {
        let field = std::mem::take(&mut self.field);
        let result = self.end_field(&field, None, self.quoted);
        self.field = field;
        self.field.clear();
        result
    }

    /// Ends a field: `value` its bytes, `text` the same when known to be UTF-8.
    fn end_field(&mut self, value: &[u8], text: Option<&str>, quoted: bool) -> Result<(), Error> {
        self.at = At::FieldStart;
        self.quoted = false;
        let index = self.fields_in_record;
        self.fields_in_record += 1;
        let Some(table) = self.table.as_mut() else {
            let name = text
                .map_or_else(|| std::str::from_utf8(value), Ok)
                .map_err(|_| {
                    Error::InvalidInput(format!(
                        "cannot read the CSV of the export: column {} of its header is not UTF-8",
                        index + 1
                    ))
                })?;
            self.header.push(name.to_owned());
            return Ok(());
        };
        match table.columns.get_mut(index) {
            Some(column) => {
                column.push(value, || text, quoted);
                Ok(())
            }
            None => Err(self.width_error()),
        }
    }

    /// The fast path: reads the plain rows from `csv[i..]` straight into
    /// the columns, and returns where it stopped, at a row's start or, with
    /// `fields_in_record` set, at a field it leaves to the field by field
    /// reader (`""` or `\\` inside quotes, cut by the chunk's end, a row
    /// of another width).
    fn read_rows(
        &mut self,
        csv: &[u8],
        text: &str,
        mut i: usize,
        out: &mut Vec<RecordBatch>,
    ) -> Result<usize, Error> {
        let Some(table) = self.table.as_mut() else {
            return Ok(i);
        };
        let width = table.columns.len();
        if width == 0 {
            return Ok(i);
        }
        loop {
            for (index, column) in table.columns.iter_mut().enumerate() {
                let delimiter = if index + 1 == width { b'\n' } else { b',' };
                let (start, end, next, quoted) = if csv.get(i) == Some(&b'"') {
                    match find_quote_end(&csv[i + 1..]) {
                        Some(end)
                            if csv.get(i + 2 + end) == Some(&delimiter)
                                && csv[i + 1 + end] == b'"' =>
                        {
                            (i + 1, i + 1 + end, i + 3 + end, true)
                        }
                        _ => {
                            self.fields_in_record = index;
                            return Ok(i);
                        }
                    }
                } else {
                    match find_field_end(&csv[i..]) {
                        Some(end) if csv[i + end] == delimiter => (i, i + end, i + end + 1, false),
                        _ => {
                            self.fields_in_record = index;
                            return Ok(i);
                        }
                    }
                };
                column.push(&csv[start..end], || text.get(start..end), quoted);
                i = next;
            }
            self.rows += 1;
            table.end_row(out)?;
        }
    }

    fn end_record(&mut self, out: &mut Vec<RecordBatch>) -> Result<(), Error> {
        let Some(table) = self.table.as_mut() else {
            return self.start_table(out);
        };
        if self.fields_in_record != table.columns.len() {
            return Err(self.width_error());
        }
        self.fields_in_record = 0;
        self.rows += 1;
        table.end_row(out)
    }

    /// An empty line: in a one-column table, the row of a NULL; else nothing
    /// (a line with no field cannot be a row of a wider table).
    fn blank_line(&mut self, out: &mut Vec<RecordBatch>) -> Result<(), Error> {
        match &self.table {
            None => self.start_table(out),
            Some(table) if table.columns.len() == 1 => {
                self.end_field(&[], Some(""), false)?;
                self.end_record(out)
            }
            Some(_) => Ok(()),
        }
    }

    fn width_error(&self) -> Error {
        let width = self.table.as_ref().map_or(0, |table| table.columns.len());
        let found = if self.fields_in_record > width {
            format!("more than {width}")
        } else {
            self.fields_in_record.to_string()
        };
        Error::InvalidInput(format!(
            "cannot read the CSV of the export: row {} does not have the header's {width} fields (it has {found}); \
             export again",
            self.rows + 1,
        ))
    }

    /// The header is read: makes the columns (a header seen again, in the next window, is checked and skipped).
    fn start_table(&mut self, out: &mut Vec<RecordBatch>) -> Result<(), Error> {
        let _ = out;
        let names = std::mem::take(&mut self.header);
        self.fields_in_record = 0;
        let columns: Vec<Column> = names
            .into_iter()
            .map(|name| {
                let kind = if name == "__id" {
                    "int"
                } else {
                    self.types.get(&name).map_or("string", String::as_str)
                };
                Column {
                    values: Values::new(kind),
                    name,
                    unreadable: 0,
                }
            })
            .collect();
        let schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|column| Field::new(&column.name, column.values.data_type(), true))
                .collect::<Vec<_>>(),
        ));
        self.table = Some(Table {
            schema,
            columns,
            batch_rows: 0,
        });
        Ok(())
    }
}

impl Table {
    /// Counts a row whose fields are all in the builders.
    fn end_row(&mut self, out: &mut Vec<RecordBatch>) -> Result<(), Error> {
        self.batch_rows += 1;
        if self.batch_rows == BATCH_ROWS {
            self.make_batch(out)?;
        }
        Ok(())
    }

    /// Makes a batch of the rows in the builders, if any.
    fn make_batch(&mut self, out: &mut Vec<RecordBatch>) -> Result<(), Error> {
        if self.batch_rows == 0 {
            return Ok(());
        }
        let arrays = self
            .columns
            .iter_mut()
            .map(|column| column.values.finish())
            .collect();
        let batch = RecordBatch::try_new(self.schema.clone(), arrays).map_err(|error| {
            Error::InvalidInput(format!("cannot make a record batch of the rows: {error}"))
        })?;
        self.batch_rows = 0;
        out.push(batch);
        Ok(())
    }
}

impl Column {
    /// Appends one CSV field: `text` gives the same as a `str` when it is
    /// known to be UTF-8; `quoted` tells `""` (an empty string) from an
    /// empty field (NULL).
    #[inline]
    fn push<'a>(&mut self, value: &[u8], text: impl FnOnce() -> Option<&'a str>, quoted: bool) {
        if value.is_empty() {
            match &mut self.values {
                Values::Text(builder, _) if quoted => builder.append_value(""),
                values => values.append_null(),
            }
            return;
        }
        let read = match &mut self.values {
            Values::Int(builder) => append(builder, parse_int(value)),
            Values::Float(builder) => append(builder, parse_float(value, text())),
            Values::Bool(builder) => {
                let parsed = parse_bool(value);
                builder.append_option(parsed);
                parsed.is_some()
            }
            Values::Date(builder) => append(builder, parse_date(value)),
            Values::Datetime(builder) => append(builder, parse_datetime(value)),
            Values::Text(builder, _) => match text().map_or_else(|| std::str::from_utf8(value), Ok)
            {
                Ok(text) => {
                    builder.append_value(text);
                    true
                }
                Err(_) => {
                    builder.append_null();
                    false
                }
            },
        };
        if !read {
            self.unreadable += 1;
        }
    }
}

fn append<T: ArrowPrimitiveType>(
    builder: &mut PrimitiveBuilder<T>,
    value: Option<T::Native>,
) -> bool {
    builder.append_option(value);
    value.is_some()
}

impl Values {
    fn new(python_type: &str) -> Values {
        match python_type {
            "int" => Values::Int(Int64Builder::with_capacity(BATCH_ROWS)),
            "float" => Values::Float(Float64Builder::with_capacity(BATCH_ROWS)),
            "bool" => Values::Bool(BooleanBuilder::with_capacity(BATCH_ROWS)),
            "date" => Values::Date(Date32Builder::with_capacity(BATCH_ROWS)),
            "datetime" => Values::Datetime(TimestampMicrosecondBuilder::with_capacity(BATCH_ROWS)),
            _ => Values::Text(StringBuilder::with_capacity(BATCH_ROWS, 0), 0),
        }
    }

    fn data_type(&self) -> DataType {
        match self {
            Values::Int(_) => DataType::Int64,
            Values::Float(_) => DataType::Float64,
            Values::Bool(_) => DataType::Boolean,
            Values::Date(_) => DataType::Date32,
            Values::Datetime(_) => DataType::Timestamp(TimeUnit::Microsecond, None),
            Values::Text(..) => DataType::Utf8,
        }
    }

    fn append_null(&mut self) {
        match self {
            Values::Int(builder) => builder.append_null(),
            Values::Float(builder) => builder.append_null(),
            Values::Bool(builder) => builder.append_null(),
            Values::Date(builder) => builder.append_null(),
            Values::Datetime(builder) => builder.append_null(),
            Values::Text(builder, _) => builder.append_null(),
        }
    }

    /// The array of the values appended since the last call; the builder
    /// starts again with room for a batch.
    fn finish(&mut self) -> ArrayRef {
        fn take<B>(builder: &mut B, fresh: B) -> B {
            std::mem::replace(builder, fresh)
        }
        match self {
            Values::Int(builder) => {
                Arc::new(take(builder, Int64Builder::with_capacity(BATCH_ROWS)).finish())
            }
            Values::Float(builder) => {
                Arc::new(take(builder, Float64Builder::with_capacity(BATCH_ROWS)).finish())
            }
            Values::Bool(builder) => {
                Arc::new(take(builder, BooleanBuilder::with_capacity(BATCH_ROWS)).finish())
            }
            Values::Date(builder) => {
                Arc::new(take(builder, Date32Builder::with_capacity(BATCH_ROWS)).finish())
            }
            Values::Datetime(builder) => Arc::new(
                take(
                    builder,
                    TimestampMicrosecondBuilder::with_capacity(BATCH_ROWS),
                )
                .finish(),
            ),
            Values::Text(builder, bytes) => {
                let array = builder.finish();
                *bytes = array.value_data().len();
                *builder = StringBuilder::with_capacity(BATCH_ROWS, *bytes);
                Arc::new(array)
            }
        }
    }
}

/// Where the unquoted field at the start of `bytes` ends (`,` or `\n`).
fn find_field_end(bytes: &[u8]) -> Option<usize> {
    find_either(bytes, b',', b'\n')
}

/// Where the quoted text at the start of `bytes` stops (`"` or `\`).
fn find_quote_end(bytes: &[u8]) -> Option<usize> {
    find_either(bytes, b'"', b'\\')
}

/// The first `a` or `b` in `bytes`, eight bytes at a time. Fields are
/// short (a few bytes to a few dozen), where this beats `memchr2`, whose
/// vector set-up is paid on every call.
#[inline]
fn find_either(bytes: &[u8], a: u8, b: u8) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    let (a_word, b_word) = (ONES * u64::from(a), ONES * u64::from(b));
    let mut words = bytes.chunks_exact(8);
    let mut start = 0;
    for word in &mut words {
        let word = u64::from_le_bytes(word.try_into().expect("chunks of 8"));
        let (xa, xb) = (word ^ a_word, word ^ b_word);
        // High bit set in the bytes that were zero (and maybe in some after
        // one, never before: the lowest is exact).
        let zeros = (xa.wrapping_sub(ONES) & !xa | xb.wrapping_sub(ONES) & !xb) & HIGHS;
        if zeros != 0 {
            return Some(start + (zeros.trailing_zeros() / 8) as usize);
        }
        start += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&byte| byte == a || byte == b)
        .map(|position| start + position)
}

/// The longest start of `bytes` that is UTF-8 (all of it, unless a
/// character is cut at the end or a byte is invalid).
fn utf8_prefix(bytes: &[u8]) -> &str {
    match simdutf8::compat::from_utf8(bytes) {
        Ok(text) => text,
        Err(error) => simdutf8::basic::from_utf8(&bytes[..error.valid_up_to()]).unwrap_or_default(),
    }
}

/// `-?[0-9]+` (or `+`) into an i64, none on overflow.
fn parse_int(value: &[u8]) -> Option<i64> {
    let (negative, digits) = match value {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, value),
    };
    if digits.is_empty() {
        return None;
    }
    let mut number: i64 = 0;
    for &byte in digits {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        // Accumulated negatively so that i64::MIN fits.
        number = number.checked_mul(10)?.checked_sub(i64::from(digit))?;
    }
    if negative {
        Some(number)
    } else {
        number.checked_neg()
    }
}

/// Decimal or scientific notation, `NaN`, `Infinity`, `-Infinity` (what PostgreSQL writes).
fn parse_float(value: &[u8], text: Option<&str>) -> Option<f64> {
    text.map_or_else(|| std::str::from_utf8(value), Ok)
        .ok()?
        .parse()
        .ok()
}

/// `t`, `true`, `f`, `false`, in any case.
fn parse_bool(value: &[u8]) -> Option<bool> {
    if value.eq_ignore_ascii_case(b"t") || value.eq_ignore_ascii_case(b"true") {
        Some(true)
    } else if value.eq_ignore_ascii_case(b"f") || value.eq_ignore_ascii_case(b"false") {
        Some(false)
    } else {
        None
    }
}

/// Digits of a fixed width into a number.
#[inline]
fn digits<const N: usize>(bytes: [u8; N]) -> Option<u32> {
    let mut number = 0;
    for byte in bytes {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        number = number * 10 + u32::from(digit);
    }
    Some(number)
}

/// `YYYY-MM-DD` into days since 1970-01-01.
fn parse_date(value: &[u8]) -> Option<i32> {
    /// Days in the year before each month (of a common year).
    const BEFORE_MONTH: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let [y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2] = *value else {
        return None;
    };
    let (year, month, day) = (
        digits([y1, y2, y3, y4])?,
        digits([m1, m2])?,
        digits([d1, d2])?,
    );
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return None,
    };
    if year == 0 || day == 0 || day > month_days {
        return None;
    }
    // Whole years since 0001-01-01 with their leap days, then this year's
    // days; 719,162 days run from 0001-01-01 to 1970-01-01.
    let past = year - 1;
    let days = past * 365 + past / 4 - past / 100
        + past / 400
        + BEFORE_MONTH[month as usize - 1]
        + u32::from(leap && month > 2)
        + day
        - 1;
    Some(days as i32 - 719_162)
}

/// `YYYY-MM-DD[( |T)HH:MM[:SS[.fraction]]][Z|±HH[[:]MM[[:]SS]]]` into
/// microseconds since 1970-01-01 00:00:00, naive; a value with an offset is
/// converted to UTC. Digits past the microsecond are dropped.
fn parse_datetime(value: &[u8]) -> Option<i64> {
    if value.len() < 10 {
        return None;
    }
    let (date, rest) = value.split_at(10);
    let days = i64::from(parse_date(date)?);
    if rest.is_empty() {
        return Some(days * MICROS_PER_DAY);
    }
    let rest = match rest {
        [b' ' | b'T' | b't', rest @ ..] => rest,
        _ => return None,
    };
    let (hour, minute, rest) = match rest {
        [h1, h2, b':', m1, m2, rest @ ..] => (digits([*h1, *h2])?, digits([*m1, *m2])?, rest),
        _ => return None,
    };
    let (second, rest) = match rest {
        [b':', s1, s2, rest @ ..] => (digits([*s1, *s2])?, rest),
        _ => (0, rest),
    };
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let (micros, rest) = match rest {
        [b'.', rest @ ..] => {
            let width = rest.iter().take_while(|byte| byte.is_ascii_digit()).count();
            if width == 0 {
                return None;
            }
            let (fraction, rest) = rest.split_at(width);
            let mut micros = 0i64;
            for position in 0..6 {
                micros = micros * 10
                    + fraction
                        .get(position)
                        .map_or(0, |byte| i64::from(byte - b'0'));
            }
            (micros, rest)
        }
        _ => (0, rest),
    };
    let offset = parse_offset(rest)?;
    let seconds = i64::from(hour * 3600 + minute * 60 + second) - offset;
    Some(days * MICROS_PER_DAY + seconds * MICROS_PER_SECOND + micros)
}

/// A UTC offset in seconds: none (0), `Z`, `±HH`, `±HH:MM`, `±HHMM`, `±HH:MM:SS`.
fn parse_offset(value: &[u8]) -> Option<i64> {
    let (sign, rest) = match value {
        [] | [b'Z' | b'z'] => return Some(0),
        [b'+', rest @ ..] => (1, rest),
        [b'-', rest @ ..] => (-1, rest),
        _ => return None,
    };
    let (hours, minutes, seconds) = match rest {
        [h1, h2] => (digits([*h1, *h2])?, 0, 0),
        [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => (digits([*h1, *h2])?, digits([*m1, *m2])?, 0),
        [h1, h2, b':', m1, m2, b':', s1, s2] => (
            digits([*h1, *h2])?,
            digits([*m1, *m2])?,
            digits([*s1, *s2])?,
        ),
        _ => return None,
    };
    if minutes > 59 || seconds > 59 {
        return None;
    }
    Some(sign * i64::from(hours * 3600 + minutes * 60 + seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_count_days_as_chrono_does() {
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        let mut date = chrono::NaiveDate::from_ymd_opt(1, 1, 1).unwrap();
        let last = chrono::NaiveDate::from_ymd_opt(9999, 12, 31).unwrap();
        while date <= last {
            let text = date.format("%Y-%m-%d").to_string();
            let expected = (date - epoch).num_days() as i32;
            assert_eq!(parse_date(text.as_bytes()), Some(expected), "{text}");
            date = date + chrono::Days::new(1);
        }
        for bad in [
            "0000-01-01",
            "2023-02-29",
            "2024-02-30",
            "2024-04-31",
            "2024-00-10",
            "2024-13-01",
            "2024-01-00",
            "2024-1-01",
            "+2024-01-01",
        ] {
            assert_eq!(parse_date(bad.as_bytes()), None, "{bad}");
        }
        assert_eq!(parse_date(b"2000-02-29"), Some(11_016));
        assert_eq!(parse_date(b"1900-02-29"), None);
    }

    #[test]
    fn integers_parse_at_the_edges() {
        assert_eq!(parse_int(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_int(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_int(b"9223372036854775808"), None);
        assert_eq!(parse_int(b"+7"), Some(7));
        for bad in [&b"-"[..], b"1e3", b" 1", b"0x1"] {
            assert_eq!(parse_int(bad), None);
        }
    }

    #[test]
    fn datetimes_with_an_offset_are_converted_to_utc() {
        for (text, expected) in [
            ("2024-03-30 22:15:00", Some("2024-03-30 22:15:00")),
            ("2024-03-30T22:15", Some("2024-03-30 22:15:00")),
            ("2024-03-30 22:15:00Z", Some("2024-03-30 22:15:00")),
            ("2024-03-30 22:15:00+00", Some("2024-03-30 22:15:00")),
            ("2024-03-31 01:15:00+03", Some("2024-03-30 22:15:00")),
            ("2024-03-30 20:45:00-01:30", Some("2024-03-30 22:15:00")),
            ("2024-03-30 22:24:21+0009", Some("2024-03-30 22:15:21")),
            ("1900-01-01 00:09:21+00:09:21", Some("1900-01-01 00:00:00")),
            ("1969-12-31 23:59:59.5", Some("1969-12-31 23:59:59.500")),
            ("2024-03-30 22:15:00 UTC", None),
            ("2024-03-30 22:15:60", None),
            ("2024-03-30 22:15:00.", None),
            ("infinity", None),
        ] {
            let value = parse_datetime(text.as_bytes()).map(|micros| {
                chrono::DateTime::from_timestamp_micros(micros)
                    .unwrap()
                    .naive_utc()
                    .to_string()
            });
            assert_eq!(value.as_deref(), expected, "{text}");
        }
    }
}
