//! Parquet exports: the joined CSV of a Tabular export, re-encoded as a
//! Parquet file with typed columns, one row group per window, in constant
//! memory.
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
//! Memory: the builders hold at most [`BATCH_ROWS`] rows; the writer holds
//! the encoded, compressed pages of the row group in progress (one window)
//! and hands its bytes to `out` when the row group ends.
//!
//! Compiled with the `parquet` feature: the `parquet` crate with its
//! `arrow` writer and the `snap` codec only (no other codec, no async, no
//! CSV, no encryption), `arrow-array` and `arrow-schema` for the builders and
//! the schema, and `simdutf8` for the UTF-8 check. Every column chunk is
//! Snappy-compressed, with statistics, and dictionary-encoded until its
//! dictionary passes [`DICTIONARY_PAGE_BYTES`].

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Float64Builder, Int64Builder, PrimitiveBuilder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::types::ArrowPrimitiveType;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::Error;

/// Rows handed to the Parquet writer at once. The writer encodes them into
/// pages of the row group in progress, so the raw values of at most this
/// many rows are held, whatever the size of the window.
const BATCH_ROWS: usize = 8192;

/// The most bytes of distinct values a column chunk's dictionary holds
/// before the column is written plain.
const DICTIONARY_PAGE_BYTES: usize = 64 * 1024;

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// Turns the joined CSV of an export into Parquet bytes, row group by row group.
pub(crate) struct ParquetEncoder {
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
    /// The columns and the writer, once the header is read.
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

/// The columns of the row group in progress and the writer.
struct Table {
    schema: SchemaRef,
    columns: Vec<Column>,
    /// Rows in the builders, not yet handed to the writer.
    batch_rows: usize,
    writer: ArrowWriter<Vec<u8>>,
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

/// What the encoder wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParquetStats {
    /// Rows written.
    pub rows: u64,
    /// Per column, how many values its type could not hold (written as null), only columns with at least one.
    pub unreadable: Vec<(String, u64)>,
}

impl ParquetEncoder {
    /// `types`: column name -> python type from the Tabular profile ("int", "float", "bool", "date", "datetime",
    /// "string", "json"; anything else or absent = string). `__id` is always int64.
    pub(crate) fn new(types: HashMap<String, String>) -> ParquetEncoder {
        ParquetEncoder {
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
    /// may be split anywhere, even inside a quoted field or a UTF-8 character). Appends to `out` any Parquet bytes
    /// ready to be written (file header, finished row groups).
    pub(crate) fn feed_csv(&mut self, csv: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
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

    /// Ends the current row group (called at the end of every window of up to 50,000 rows); appends its bytes to
    /// `out`.
    pub(crate) fn end_row_group(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        self.end_last_record(out)?;
        if let Some(table) = self.table.as_mut() {
            table.write_batch()?;
            table.writer.flush().map_err(parquet_error)?;
            table.drain(out)?;
        }
        Ok(())
    }

    /// Ends the file (footer); an export with no row still gives a valid file with the header's schema.
    pub(crate) fn finish(mut self, out: &mut Vec<u8>) -> Result<ParquetStats, Error> {
        self.end_last_record(out)?;
        if self.table.is_none() {
            // No header line at all: a file with no column.
            self.start_table(out)?;
        }
        let mut table = self.table.take().expect("the table was just made");
        table.write_batch()?;
        table.writer.finish().map_err(parquet_error)?;
        out.append(table.writer.inner_mut());
        Ok(ParquetStats {
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
    fn end_last_record(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
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
        out: &mut Vec<u8>,
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

    fn end_record(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
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
    fn blank_line(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
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

    /// The header is read: makes the columns and the writer, and writes the file's first bytes.
    fn start_table(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
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
        // Snappy: fast, and read everywhere. Dictionaries pay for repeated
        // values (codes, categories) but a column of distinct values would
        // hash every one of them until the dictionary outgrew the default
        // 1 MiB; at 64 KiB such a column turns to plain encoding after a few
        // thousand rows, which is as small once compressed and much faster.
        // `__id` never repeats.
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_dictionary_page_size_limit(DICTIONARY_PAGE_BYTES)
            .set_column_dictionary_enabled(ColumnPath::from("__id"), false)
            .build();
        let writer = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(properties))
            .map_err(parquet_error)?;
        let mut table = Table {
            schema,
            columns,
            batch_rows: 0,
            writer,
        };
        table.drain(out)?;
        self.table = Some(table);
        Ok(())
    }
}

impl Table {
    /// Counts a row whose fields are all in the builders.
    fn end_row(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        self.batch_rows += 1;
        if self.batch_rows == BATCH_ROWS {
            self.write_batch()?;
            // The writer may have closed a row group of its own (over a million rows).
            self.drain(out)?;
        }
        Ok(())
    }

    /// Hands the rows in the builders to the writer.
    fn write_batch(&mut self) -> Result<(), Error> {
        if self.batch_rows == 0 {
            return Ok(());
        }
        let arrays = self
            .columns
            .iter_mut()
            .map(|column| column.values.finish())
            .collect();
        let batch = RecordBatch::try_new(self.schema.clone(), arrays).map_err(|error| {
            Error::InvalidInput(format!("cannot write the Parquet file: {error}"))
        })?;
        self.batch_rows = 0;
        self.writer.write(&batch).map_err(parquet_error)
    }

    /// Moves the bytes the writer has finished into `out`. The writer
    /// counts the bytes it wrote itself, so emptying its `Vec` keeps the
    /// offsets of the footer right.
    fn drain(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        self.writer.sync().map_err(|error| {
            Error::InvalidInput(format!("cannot write the Parquet file: {error}"))
        })?;
        out.append(self.writer.inner_mut());
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

fn parquet_error(error: parquet::errors::ParquetError) -> Error {
    Error::InvalidInput(format!("cannot write the Parquet file: {error}"))
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
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Date32Type, Float64Type, Int64Type, TimestampMicrosecondType};
    use arrow_array::{Array, RecordBatchReader};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    /// The first rows of resource 10000000-…-0001 (tests/stack/tabular/sql/10_types.sql) as api-tabular 0.4.1
    /// sends them, byte for byte.
    const SERVER_CSV: &str = concat!(
        "__id,nom complet,élément,entier,avg.views,a__b,actif,date,horodatage,données,code_commune,say \"hi\"\n",
        "1,\"Élodie Dupré\",a&b,-13,1.75,1,f,2024-01-01,\"2024-03-30 22:15:00\",\"{\"\"n\"\" : 1, \"\"tags\"\" : [\"\"a\"\", \"\"b\"\"]}\",01789,q1\n",
        "2,\"François Lefèvre\",\"x,y\",24,3.25,2,t,2024-01-11,\"2024-03-31 05:45:00\",\"[2, 4]\",03578,q2\n",
        "3,\"Zoë 🚀 Moreau\",k=v,-40,4.75,3,f,2024-01-21,\"2024-03-31 13:15:00\",\"\"\"texte 3\"\"\",05367,\n",
        "9,\"ÉMILE ZOLA\",\"\",-20,13.75,4,,2024-03-21,\"2024-04-02 10:15:00\",\"{\"\"n\"\" : 9, \"\"tags\"\" : [\"\"a\"\", \"\"b\"\"]}\",16101,\n",
        "10,,\"C:\\\\temp\",17,15.25,0,t,2024-03-31,\"2024-04-02 17:45:00\",\"[10, 20]\",17890,q10\n",
        "12,\"Zoë 🚀 Moreau\",\"x,y\",-10,18.25,2,t,,,,21468,\n",
    );

    fn profile_types() -> HashMap<String, String> {
        [
            ("nom complet", "string"),
            ("élément", "string"),
            ("entier", "int"),
            ("avg.views", "float"),
            ("a__b", "int"),
            ("actif", "bool"),
            ("date", "date"),
            ("horodatage", "datetime"),
            ("données", "json"),
            ("code_commune", "string"),
            ("say \"hi\"", "string"),
        ]
        .into_iter()
        .map(|(name, kind)| (name.to_owned(), kind.to_owned()))
        .collect()
    }

    fn types(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(name, kind)| ((*name).to_owned(), (*kind).to_owned()))
            .collect()
    }

    /// Encodes `windows` (each a list of chunks), ending a row group after each.
    fn encode(types: HashMap<String, String>, windows: &[&[&[u8]]]) -> (Vec<u8>, ParquetStats) {
        let mut encoder = ParquetEncoder::new(types);
        let mut out = Vec::new();
        for window in windows {
            for chunk in *window {
                encoder.feed_csv(chunk, &mut out).unwrap();
            }
            encoder.end_row_group(&mut out).unwrap();
        }
        let stats = encoder.finish(&mut out).unwrap();
        (out, stats)
    }

    fn encode_one(types: HashMap<String, String>, csv: &str) -> (Vec<u8>, ParquetStats) {
        encode(types, &[&[csv.as_bytes()]])
    }

    /// The schema (name: type) and the rows of a Parquet file, values as text, null as `None`.
    fn read(file: &[u8]) -> (Vec<String>, Vec<Vec<Option<String>>>) {
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::copy_from_slice(file))
            .unwrap()
            .build()
            .unwrap();
        let schema = reader
            .schema()
            .fields()
            .iter()
            .map(|field| format!("{}: {}", field.name(), field.data_type()))
            .collect();
        let mut rows = Vec::new();
        for batch in reader {
            let batch = batch.unwrap();
            for row in 0..batch.num_rows() {
                rows.push(
                    batch
                        .columns()
                        .iter()
                        .map(|column| cell(column, row))
                        .collect(),
                );
            }
        }
        (schema, rows)
    }

    fn cell(array: &ArrayRef, row: usize) -> Option<String> {
        if array.is_null(row) {
            return None;
        }
        Some(match array.data_type() {
            DataType::Int64 => array.as_primitive::<Int64Type>().value(row).to_string(),
            DataType::Float64 => array.as_primitive::<Float64Type>().value(row).to_string(),
            DataType::Boolean => array.as_boolean().value(row).to_string(),
            DataType::Date32 => array
                .as_primitive::<Date32Type>()
                .value_as_date(row)
                .unwrap()
                .to_string(),
            DataType::Timestamp(TimeUnit::Microsecond, None) => array
                .as_primitive::<TimestampMicrosecondType>()
                .value_as_datetime(row)
                .unwrap()
                .to_string(),
            DataType::Utf8 => array.as_string::<i32>().value(row).to_owned(),
            other => panic!("unexpected type {other}"),
        })
    }

    fn row(values: &[Option<&str>]) -> Vec<Option<String>> {
        values
            .iter()
            .map(|value| value.map(str::to_owned))
            .collect()
    }

    fn row_groups(file: &[u8]) -> Vec<i64> {
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::copy_from_slice(file)).unwrap();
        builder
            .metadata()
            .row_groups()
            .iter()
            .map(|group| group.num_rows())
            .collect()
    }

    #[test]
    fn profile_types_map_to_arrow_types() {
        let (file, stats) = encode_one(profile_types(), SERVER_CSV);
        let (schema, _) = read(&file);
        assert_eq!(
            schema,
            [
                "__id: Int64",
                "nom complet: Utf8",
                "élément: Utf8",
                "entier: Int64",
                "avg.views: Float64",
                "a__b: Int64",
                "actif: Boolean",
                "date: Date32",
                "horodatage: Timestamp(µs)",
                "données: Utf8",
                "code_commune: Utf8",
                "say \"hi\": Utf8",
            ]
        );
        assert_eq!(
            stats,
            ParquetStats {
                rows: 6,
                unreadable: vec![]
            }
        );
    }

    #[test]
    fn server_csv_reads_back_value_for_value() {
        let (file, _) = encode_one(profile_types(), SERVER_CSV);
        let (_, rows) = read(&file);
        assert_eq!(rows.len(), 6);
        assert_eq!(
            rows[0],
            row(&[
                Some("1"),
                Some("Élodie Dupré"),
                Some("a&b"),
                Some("-13"),
                Some("1.75"),
                Some("1"),
                Some("false"),
                Some("2024-01-01"),
                Some("2024-03-30 22:15:00"),
                Some(r#"{"n" : 1, "tags" : ["a", "b"]}"#),
                Some("01789"),
                Some("q1"),
            ])
        );
        assert_eq!(rows[1][2].as_deref(), Some("x,y"));
        assert_eq!(rows[1][6].as_deref(), Some("true"));
        assert_eq!(rows[2][1].as_deref(), Some("Zoë 🚀 Moreau"));
        assert_eq!(rows[2][9].as_deref(), Some(r#""texte 3""#));
        // NULL (empty field) and empty string (`""`) stay apart in string columns.
        assert_eq!(rows[2][11], None);
        assert_eq!(rows[3][2].as_deref(), Some(""));
        assert_eq!(rows[3][6], None);
        assert_eq!(rows[4][1], None);
        // PostgreSQL doubles backslashes inside quotes.
        assert_eq!(rows[4][2].as_deref(), Some(r"C:\temp"));
        assert_eq!(
            rows[5],
            row(&[
                Some("12"),
                Some("Zoë 🚀 Moreau"),
                Some("x,y"),
                Some("-10"),
                Some("18.25"),
                Some("2"),
                Some("true"),
                None,
                None,
                None,
                Some("21468"),
                None,
            ])
        );
    }

    #[test]
    fn values_a_type_cannot_hold_become_null_and_are_counted() {
        let csv = concat!(
            "__id,i,f,b,d,t,s\n",
            "1,12,1.5,true,2024-02-29,2024-03-30T22:15:00,x\n",
            "2,1.5,abc,yes,2023-02-29,2024-03-30 25:00:00,y\n",
            "x,99999999999999999999,NaN,F,2024-13-01,2024-03-30,\"\"\n",
            "4,-9223372036854775808,-Infinity,T,20240101,2024-03-30 22:15:00.123456789+02:00,z\n",
            "5,,,,,\"\",\n",
        );
        let (file, stats) = encode_one(
            types(&[
                ("i", "int"),
                ("f", "float"),
                ("b", "bool"),
                ("d", "date"),
                ("t", "datetime"),
                ("s", "string"),
            ]),
            csv,
        );
        let (_, rows) = read(&file);
        assert_eq!(
            rows,
            [
                row(&[
                    Some("1"),
                    Some("12"),
                    Some("1.5"),
                    Some("true"),
                    Some("2024-02-29"),
                    Some("2024-03-30 22:15:00"),
                    Some("x")
                ]),
                row(&[Some("2"), None, None, None, None, None, Some("y")]),
                row(&[
                    None,
                    None,
                    Some("NaN"),
                    Some("false"),
                    None,
                    Some("2024-03-30 00:00:00"),
                    Some("")
                ]),
                row(&[
                    Some("4"),
                    Some("-9223372036854775808"),
                    Some("-inf"),
                    Some("true"),
                    None,
                    Some("2024-03-30 20:15:00.123456"),
                    Some("z"),
                ]),
                row(&[Some("5"), None, None, None, None, None, None]),
            ]
        );
        assert_eq!(
            stats,
            ParquetStats {
                rows: 5,
                unreadable: vec![
                    ("__id".into(), 1),
                    ("i".into(), 2),
                    ("f".into(), 1),
                    ("b".into(), 1),
                    ("d".into(), 3),
                    ("t".into(), 1),
                ],
            }
        );
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

    #[test]
    fn a_csv_split_at_any_byte_gives_the_same_file() {
        let whole = encode_one(profile_types(), SERVER_CSV);
        let csv = SERVER_CSV.as_bytes();
        for at in 0..=csv.len() {
            let split = encode(profile_types(), &[&[&csv[..at], &csv[at..]]]);
            assert!(split == whole, "split at byte {at}");
        }
        let bytes: Vec<&[u8]> = csv.chunks(1).collect();
        assert!(
            encode(profile_types(), &[&bytes]) == whole,
            "one byte at a time"
        );
    }

    #[test]
    fn row_groups_are_the_windows() {
        let types = types(&[("n", "int")]);
        let (file, stats) = encode(
            types,
            &[
                &[b"__id,n\n1,1\n2,", b"2\n"],
                &[],
                &[b"3,3\n"],
                // The last row of a window may come without its newline.
                &[b"4,4\n5,5"],
            ],
        );
        assert_eq!(row_groups(&file), [2, 1, 2]);
        assert_eq!(stats.rows, 5);
        let (_, rows) = read(&file);
        assert_eq!(rows.last().unwrap(), &row(&[Some("5"), Some("5")]));
    }

    #[test]
    fn bytes_come_out_as_row_groups_end() {
        let mut encoder = ParquetEncoder::new(types(&[("n", "int")]));
        let mut out = Vec::new();
        encoder.feed_csv(b"__id,n\n", &mut out).unwrap();
        assert_eq!(out, b"PAR1");
        encoder.feed_csv(b"1,1\n", &mut out).unwrap();
        assert_eq!(out.len(), 4, "a row group is written when it ends");
        encoder.end_row_group(&mut out).unwrap();
        let after_first = out.len();
        assert!(after_first > 4);
        // Emptying `out` between row groups keeps the file right (the writer counts its own offsets).
        let mut file = std::mem::take(&mut out);
        encoder.feed_csv(b"2,2\n", &mut out).unwrap();
        encoder.end_row_group(&mut out).unwrap();
        encoder.finish(&mut out).unwrap();
        file.extend_from_slice(&out);
        assert_eq!(row_groups(&file), [1, 1]);
    }

    #[test]
    fn a_batch_bigger_than_the_builders_is_one_row_group() {
        let mut csv = String::from("__id,s\n");
        for id in 1..=(2 * BATCH_ROWS + 7) {
            csv.push_str(&format!("{id},\"v {id}\"\n"));
        }
        let (file, stats) = encode(HashMap::new(), &[&[csv.as_bytes()], &[b"99999,last\n"]]);
        assert_eq!(row_groups(&file), [2 * BATCH_ROWS as i64 + 7, 1]);
        assert_eq!(stats.rows, 2 * BATCH_ROWS as u64 + 8);
        let (_, rows) = read(&file);
        assert_eq!(
            rows[BATCH_ROWS],
            row(&[
                Some((BATCH_ROWS + 1).to_string().as_str()),
                Some(format!("v {}", BATCH_ROWS + 1).as_str())
            ])
        );
    }

    #[test]
    fn an_empty_export_is_a_valid_file_with_the_header_schema() {
        let (file, stats) = encode_one(types(&[("d", "date")]), "__id,d\n");
        assert_eq!(
            read(&file),
            (vec!["__id: Int64".into(), "d: Date32".into()], vec![])
        );
        assert_eq!(stats, ParquetStats::default());
        assert!(row_groups(&file).is_empty());

        // No newline after the header, or no byte at all.
        let (file, _) = encode_one(HashMap::new(), "__id,d");
        assert_eq!(read(&file).0, ["__id: Int64", "d: Utf8"]);
        let (file, stats) = encode(HashMap::new(), &[]);
        assert_eq!(read(&file), (vec![], vec![]));
        assert_eq!(stats, ParquetStats::default());
    }

    #[test]
    fn quoted_header_names_are_read() {
        let csv = "__id,\"say \"\"hi\"\"\",\"a,b\",\"é l\nn\",plain \"x\"\n1,a,b,c,d\n";
        let (file, _) = encode_one(types(&[("a,b", "int")]), csv);
        let (schema, rows) = read(&file);
        assert_eq!(
            schema,
            [
                "__id: Int64",
                "say \"hi\": Utf8",
                "a,b: Int64",
                "é l\nn: Utf8",
                "plain \"x\": Utf8"
            ]
        );
        assert_eq!(
            rows,
            [row(&[Some("1"), Some("a"), None, Some("c"), Some("d")])]
        );
    }

    #[test]
    fn quoted_values_keep_newlines_quotes_and_lone_backslashes() {
        let csv = "__id,s\n1,\"a\nb\"\n2,\"x \"\"y\"\" \\\\ \\z\\\"\n3,\"q\"tail\n";
        let (file, _) = encode_one(HashMap::new(), csv);
        let (_, rows) = read(&file);
        let values: Vec<_> = rows.iter().map(|row| row[1].clone().unwrap()).collect();
        assert_eq!(values, ["a\nb", r#"x "y" \ \z\"#, "qtail"]);
    }

    #[test]
    fn a_one_column_table_reads_blank_lines_as_nulls() {
        let (file, stats) = encode_one(types(&[("n", "int")]), "n\n1\n\n3\n");
        assert_eq!(
            read(&file).1,
            [row(&[Some("1")]), row(&[None]), row(&[Some("3")])]
        );
        assert_eq!(stats.rows, 3);
        // Wider tables skip them.
        let (file, _) = encode_one(HashMap::new(), "a,b\n\n1,2\n\n");
        assert_eq!(read(&file).1, [row(&[Some("1"), Some("2")])]);
    }

    #[test]
    fn malformed_csv_is_an_error() {
        let mut encoder = ParquetEncoder::new(HashMap::new());
        let mut out = Vec::new();
        let error = encoder.feed_csv(b"a,b\n1,2,3\n", &mut out).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("row 1 does not have the header's 2 fields (it has more than 2)"),
            "{error}"
        );

        let mut encoder = ParquetEncoder::new(HashMap::new());
        let error = encoder.feed_csv(b"a,b\n1,2\n3\n", &mut out).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("row 2 does not have the header's 2 fields (it has 1)"),
            "{error}"
        );

        let mut encoder = ParquetEncoder::new(HashMap::new());
        let error = encoder.feed_csv(b"\n\n1\n", &mut out).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("row 1 does not have the header's 0 fields (it has more than 0)"),
            "{error}"
        );

        let mut encoder = ParquetEncoder::new(HashMap::new());
        encoder.feed_csv(b"a\n\"open", &mut out).unwrap();
        let error = encoder.end_row_group(&mut out).unwrap_err();
        assert!(
            error.to_string().contains("ends inside a quoted field"),
            "{error}"
        );
    }

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

    /// Throughput of the encoder on a typical export (release build):
    /// `cargo test --release -p datagouv --features parquet --lib export::parquet::tests::throughput -- --ignored --nocapture`
    #[test]
    #[ignore = "a measure, not a check; run in release"]
    fn throughput() {
        let window = super::super::measure::sample_window(&[
            "Élodie Dupré",
            "François Lefèvre",
            "Zoë Moreau",
            "Jean \"Jojo\" Martin",
            "plain",
        ]);
        let header_end = window.find('\n').unwrap() + 1;
        let types = types(&[
            ("n", "int"),
            ("x", "float"),
            ("actif", "bool"),
            ("date", "date"),
            ("horodatage", "datetime"),
        ]);
        let windows = 20;
        let clock = super::super::measure::CpuClock::start();
        let mut encoder = ParquetEncoder::new(types);
        let mut out = Vec::new();
        let mut written = 0;
        let mut csv_bytes = 0;
        for k in 0..windows {
            let body = if k == 0 {
                window.as_bytes()
            } else {
                &window.as_bytes()[header_end..]
            };
            csv_bytes += body.len();
            for chunk in body.chunks(64 * 1024) {
                encoder.feed_csv(chunk, &mut out).unwrap();
                written += out.len();
                out.clear();
            }
            encoder.end_row_group(&mut out).unwrap();
            written += out.len();
            out.clear();
        }
        let stats = encoder.finish(&mut out).unwrap();
        written += out.len();
        let seconds = clock.seconds();
        assert_eq!(stats.rows, 50_000 * windows);
        assert!(stats.unreadable.is_empty(), "{stats:?}");
        println!(
            "{} MB of CSV ({} rows) -> {} MB of Parquet in {seconds:.2} s on the CPU: {:.0} MB/s of CSV",
            csv_bytes / 1_000_000,
            stats.rows,
            written / 1_000_000,
            csv_bytes as f64 / 1e6 / seconds
        );
    }
}
