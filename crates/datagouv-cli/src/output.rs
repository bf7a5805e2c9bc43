//! Printing results: tables, JSON, JSON lines, CSV, with field selection.
//!
//! Every result is a [`Record`] (an object whose keys keep the server's
//! order) or a stream of them. Tables and CSV show a few chosen fields
//! (the command's defaults, or `--fields`); JSON and JSON lines show whole
//! objects unless `--fields` narrows them.

use comfy_table::{ColumnConstraint, ContentArrangement, Table, presets};
use futures::{Stream, StreamExt};
use serde::{
    Deserialize, Serialize,
    de::{MapAccess, Visitor},
    ser::SerializeMap,
};
use serde_json::Value;
use std::{
    fmt,
    io::{IsTerminal, Write},
};

use crate::{cli::OutputFlags, error::CliError};

/// An object whose keys keep their order (the server's, or the order
/// of `--fields`), unlike `serde_json::Map`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Record(Vec<(String, Value)>);

impl Record {
    /// A record of these keys and values, in this order.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, Value)>) -> Record {
        Record(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    /// Any serialisable value as a record (its fields in declaration
    /// order); a value that is not an object becomes `{"value": …}`.
    pub fn from_serialize<T: Serialize>(value: &T) -> Result<Record, CliError> {
        let text = serde_json::to_string(value)
            .map_err(|e| CliError::other(format!("cannot serialise the answer: {e}")))?;
        Record::from_json(&text)
    }

    /// A record from JSON text.
    pub fn from_json(text: &str) -> Result<Record, CliError> {
        match serde_json::from_str::<Record>(text) {
            Ok(record) => Ok(record),
            Err(_) => {
                let value: Value = serde_json::from_str(text)
                    .map_err(|e| CliError::other(format!("the answer is not JSON: {e}")))?;
                Ok(Record(vec![("value".into(), value)]))
            }
        }
    }

    /// The top-level keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }

    /// The value at a dotted path (`organization.name`, `resources.title`,
    /// `tags.0`); `null` when absent. A key holding dots (`avg.views`) is
    /// matched whole first.
    pub fn get(&self, path: &str) -> Value {
        if let Some((_, value)) = self.0.iter().find(|(k, _)| k == path) {
            return value.clone();
        }
        for (index, _) in path.match_indices('.') {
            let (head, rest) = (&path[..index], &path[index + 1..]);
            if let Some((_, value)) = self.0.iter().find(|(k, _)| k == head) {
                return lookup(value, rest);
            }
        }
        Value::Null
    }

    /// Only these fields, in this order, keyed by the paths as written.
    pub fn project(&self, fields: &[String]) -> Record {
        Record(fields.iter().map(|f| (f.clone(), self.get(f))).collect())
    }
}

/// The value at a dotted path below `value`.
fn lookup(value: &Value, path: &str) -> Value {
    match value {
        Value::Object(map) => {
            if let Some(found) = map.get(path) {
                return found.clone();
            }
            for (index, _) in path.match_indices('.') {
                if let Some(found) = map.get(&path[..index]) {
                    return lookup(found, &path[index + 1..]);
                }
            }
            Value::Null
        }
        Value::Array(items) => {
            let (head, rest) = path.split_once('.').unwrap_or((path, ""));
            match head.parse::<usize>() {
                Ok(index) => {
                    let item = items.get(index).cloned().unwrap_or(Value::Null);
                    if rest.is_empty() {
                        item
                    } else {
                        lookup(&item, rest)
                    }
                }
                // A name below a list: that field of every item.
                Err(_) => Value::Array(items.iter().map(|item| lookup(item, path)).collect()),
            }
        }
        _ => Value::Null,
    }
}

impl Serialize for Record {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Record {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Record, D::Error> {
        struct Ordered;
        impl<'de> Visitor<'de> for Ordered {
            type Value = Record;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    pairs.push((key, value));
                }
                Ok(Record(pairs))
            }
        }
        deserializer.deserialize_map(Ordered)
    }
}

/// An output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A table.
    Table,
    /// One JSON document.
    Json,
    /// One JSON object per line.
    Jsonl,
    /// CSV with a header.
    Csv,
}

/// How results are printed.
#[derive(Clone, Debug)]
pub struct Output {
    chosen: Option<Format>,
    fields: Vec<String>,
}

/// The longest text a table cell shows.
const CELL_MAX: usize = 120;

impl Output {
    /// From `--json`/`--jsonl`/`--csv`/`--table` and `--fields`.
    pub fn new(flags: &OutputFlags, fields: &[String]) -> Result<Output, CliError> {
        let given = [flags.json, flags.jsonl, flags.csv, flags.table];
        if given.iter().filter(|f| **f).count() > 1 {
            return Err(
                CliError::usage("--json, --jsonl, --csv and --table cannot be combined")
                    .with_hint("choose one output format"),
            );
        }
        let chosen = if flags.json {
            Some(Format::Json)
        } else if flags.jsonl {
            Some(Format::Jsonl)
        } else if flags.csv {
            Some(Format::Csv)
        } else if flags.table {
            Some(Format::Table)
        } else {
            None
        };
        let fields: Vec<String> = fields.iter().map(|f| f.trim().to_owned()).collect();
        if let Some(empty) = fields.iter().position(String::is_empty) {
            return Err(CliError::usage(format!(
                "--fields has an empty name at position {}",
                empty + 1
            ))
            .with_hint("write --fields id,title,organization.name"));
        }
        Ok(Output { chosen, fields })
    }

    /// The format asked for, else a table on a terminal and JSON lines
    /// when piped.
    pub fn format(&self) -> Format {
        self.chosen.unwrap_or_else(|| {
            if std::io::stdout().is_terminal() {
                Format::Table
            } else {
                Format::Jsonl
            }
        })
    }

    /// The `--fields` asked for.
    pub fn fields(&self) -> &[String] {
        &self.fields
    }

    /// Refuses a `--fields` name whose first part is none of `valid` (the
    /// fields of the model printed), so that a typo is an error rather
    /// than an empty column. An empty `valid` (a model of unknown shape)
    /// checks nothing.
    pub fn check_fields(&self, valid: &[&str]) -> Result<(), CliError> {
        if valid.is_empty() {
            return Ok(());
        }
        match unknown_field(&self.fields, valid) {
            None => Ok(()),
            Some(unknown) => Err(CliError::usage(format!(
                "--fields names `{unknown}`, which is not a field of these objects"
            ))
            .with_hint(format!(
                "the fields are: {} (dotted paths reach inside them, e.g. organization.name)",
                valid.join(", ")
            ))),
        }
    }

    /// The same output, with `format` when none was asked for.
    pub fn defaulting_to(&self, format: Format) -> Output {
        Output {
            chosen: Some(self.chosen.unwrap_or(format)),
            fields: self.fields.clone(),
        }
    }

    /// The columns of tables and CSV: `--fields`, else the command's
    /// defaults, else the keys of the first record.
    fn columns(&self, defaults: Option<&[&str]>, first: Option<&Record>) -> Vec<String> {
        if !self.fields.is_empty() {
            return self.fields.clone();
        }
        match (defaults, first) {
            (Some(defaults), _) => defaults.iter().map(|s| (*s).to_owned()).collect(),
            (None, Some(first)) => first.keys().map(str::to_owned).collect(),
            (None, None) => Vec::new(),
        }
    }

    /// What JSON output shows of a record: all of it, or `--fields`.
    fn json_record(&self, record: Record) -> Record {
        if self.fields.is_empty() {
            record
        } else {
            record.project(&self.fields)
        }
    }

    /// Prints a list of records (`defaults`: the table and CSV columns).
    pub async fn print(
        &self,
        records: Vec<Record>,
        defaults: Option<&[&str]>,
    ) -> Result<(), CliError> {
        let stream = futures::stream::iter(records.into_iter().map(Ok));
        self.print_stream(stream, defaults).await
    }

    /// Prints records as they arrive (tables wait for the last one).
    pub async fn print_stream<S>(&self, rows: S, defaults: Option<&[&str]>) -> Result<(), CliError>
    where
        S: Stream<Item = Result<Record, CliError>>,
    {
        let mut rows = std::pin::pin!(rows);
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        match self.format() {
            Format::Table => {
                let mut all = Vec::new();
                while let Some(row) = rows.next().await {
                    all.push(row?);
                }
                if all.is_empty() {
                    eprintln!("no results");
                    return Ok(());
                }
                let columns = self.columns(defaults, all.first());
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .map(|record| {
                        columns
                            .iter()
                            .map(|c| cell_text(&record.get(c), true))
                            .collect()
                    })
                    .collect();
                writeln!(out, "{}", table(columns, rows))?;
            }
            Format::Json => {
                let mut count = 0usize;
                while let Some(row) = rows.next().await {
                    let record = self.json_record(row?);
                    let text = json_text(&record, true);
                    out.write_all(if count == 0 { b"[\n  " } else { b",\n  " })?;
                    out.write_all(text.replace('\n', "\n  ").as_bytes())?;
                    count += 1;
                }
                out.write_all(if count == 0 { b"[]\n" } else { b"\n]\n" })?;
            }
            Format::Jsonl => {
                while let Some(row) = rows.next().await {
                    let record = self.json_record(row?);
                    out.write_all(json_text(&record, false).as_bytes())?;
                    out.write_all(b"\n")?;
                    out.flush()?;
                }
            }
            Format::Csv => {
                let on_terminal = std::io::stdout().is_terminal();
                let mut writer = csv::Writer::from_writer(&mut out);
                let mut columns: Option<Vec<String>> = None;
                let shown = |header: &[String]| -> Vec<String> {
                    header
                        .iter()
                        .map(|h| {
                            if on_terminal {
                                printable(h, false).into_owned()
                            } else {
                                h.clone()
                            }
                        })
                        .collect()
                };
                if defaults.is_some() || !self.fields.is_empty() {
                    let header = self.columns(defaults, None);
                    writer.write_record(shown(&header)).map_err(csv_error)?;
                    columns = Some(header);
                }
                while let Some(row) = rows.next().await {
                    let record = row?;
                    let columns = columns.get_or_insert_with(|| {
                        let header = self.columns(None, Some(&record));
                        // A header the writer refuses shows up on the next write.
                        let _ = writer.write_record(shown(&header));
                        header
                    });
                    // Exact values, but not control characters on a terminal.
                    let cells = columns.iter().map(|c| {
                        let text = cell_text(&record.get(c), false);
                        if on_terminal {
                            printable(&text, true).into_owned()
                        } else {
                            text
                        }
                    });
                    writer.write_record(cells).map_err(csv_error)?;
                }
                writer.flush()?;
            }
        }
        out.flush()?;
        Ok(())
    }

    /// Prints one object: a two-column table on a terminal.
    pub async fn print_one(
        &self,
        record: Record,
        defaults: Option<&[&str]>,
    ) -> Result<(), CliError> {
        match self.format() {
            Format::Table => {
                let rows = self
                    .columns(defaults, Some(&record))
                    .into_iter()
                    .map(|column| {
                        let value = cell_text(&record.get(&column), true);
                        vec![column, value]
                    })
                    .collect();
                let table = table(vec!["field".into(), "value".into()], rows);
                writeln!(std::io::stdout().lock(), "{table}")?;
                Ok(())
            }
            Format::Json => {
                let record = self.json_record(record);
                let mut out = std::io::stdout().lock();
                writeln!(out, "{}", json_text(&record, true))?;
                Ok(())
            }
            Format::Jsonl | Format::Csv => self.print(vec![record], defaults).await,
        }
    }
}

/// The first of `fields` that names none of `valid`: neither a name of its
/// own (a column may be called `avg.views`) nor a dotted path whose first
/// part is one.
pub fn unknown_field<'a>(fields: &'a [String], valid: &[&str]) -> Option<&'a String> {
    let known = |path: &str| {
        valid.contains(&path)
            || path
                .split_once('.')
                .is_some_and(|(head, _)| valid.contains(&head))
    };
    fields.iter().find(|path| !known(path))
}

/// A record as JSON text, pretty or compact, with the control characters
/// serde_json leaves as they are (DEL, C1, bidirectional controls; see
/// [`is_terminal_control`]) written as `\uXXXX` escapes: the same value
/// for any JSON reader, harmless on a terminal. Outside strings JSON text
/// is ASCII, so every such character is inside a string.
fn json_text(record: &Record, pretty: bool) -> String {
    let text = if pretty {
        serde_json::to_string_pretty(record)
    } else {
        serde_json::to_string(record)
    }
    .expect("JSON values serialise");
    if !text.chars().any(is_terminal_control) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_terminal_control(c) && !matches!(c, '\n' | ' ') {
            // All of them are in the Basic Multilingual Plane.
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

fn csv_error(error: csv::Error) -> CliError {
    match error.into_kind() {
        csv::ErrorKind::Io(io) => io.into(),
        other => CliError::other(format!("cannot write CSV: {other:?}")),
    }
}

/// Single-word cells up to this wide (ids, UUIDs, dates, codes) are kept
/// on one line when the terminal leaves room.
const UNWRAPPED_MAX: usize = 36;
/// The least width a wrapping column keeps.
const WRAPPED_MIN: usize = 10;

/// A table in the house style. On a terminal it is fitted to the width:
/// text wraps, while columns of single words (ids, dates, numbers) stay on
/// one line as far as the width allows. Elsewhere nothing wraps.
fn table(header: Vec<String>, rows: Vec<Vec<String>>) -> Table {
    // Keys come from the server too (`api get`, record fields): every
    // text of the table is shown, not obeyed (cells already are).
    let header: Vec<String> = header
        .iter()
        .map(|h| printable(h, false).into_owned())
        .collect();
    let rows: Vec<Vec<String>> = rows
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|cell| printable(&cell, true).into_owned())
                .collect()
        })
        .collect();
    let mut table = Table::new();
    table.load_preset(presets::UTF8_FULL_CONDENSED);
    let terminal = console::Term::stdout();
    let width = terminal
        .size_checked()
        .filter(|_| terminal.is_term())
        .map(|(_, width)| width);
    let Some(width) = width else {
        table.set_content_arrangement(ContentArrangement::Disabled);
        table.set_header(header);
        for row in rows {
            table.add_row(row);
        }
        return table;
    };
    let kept = unwrapped_columns(&header, &rows, usize::from(width));
    table
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width);
    table.set_header(header);
    for row in rows {
        table.add_row(row);
    }
    for (index, column) in table.column_iter_mut().enumerate() {
        if kept.contains(&index) {
            column.set_constraint(ColumnConstraint::ContentWidth);
        }
    }
    table
}

/// The columns a table `width` wide keeps on one line: single-word columns
/// up to [`UNWRAPPED_MAX`] wide, identifiers first, then the narrowest, as
/// long as every column left to wrap keeps [`WRAPPED_MIN`] (or its content,
/// if narrower). Each column costs its content plus three characters of
/// padding and border.
fn unwrapped_columns(header: &[String], rows: &[Vec<String>], width: usize) -> Vec<usize> {
    // Per column: the widest line, and whether every cell is one word.
    let mut shape: Vec<(usize, bool)> = header
        .iter()
        .map(|h| (console::measure_text_width(h), true))
        .collect();
    for row in rows {
        for (cell, (widest, word)) in row.iter().zip(shape.iter_mut()) {
            let lines = cell.lines().map(console::measure_text_width);
            *widest = (*widest).max(lines.max().unwrap_or(0));
            *word &= !cell.contains(char::is_whitespace);
        }
    }
    let mut room = width.saturating_sub(3 * shape.len() + 1);
    let mut wrapping: Vec<usize> = (0..shape.len()).collect();
    let mut candidates: Vec<(bool, usize, usize)> = shape
        .iter()
        .enumerate()
        .filter(|(_, (widest, word))| *word && *widest <= UNWRAPPED_MAX)
        .map(|(index, (widest, _))| {
            let identifier = header[index] == "id" || header[index].ends_with("id");
            (!identifier, *widest, index)
        })
        .collect();
    candidates.sort_unstable();
    let mut kept = Vec::new();
    for (_, widest, index) in candidates {
        let others: usize = wrapping
            .iter()
            .filter(|i| **i != index)
            .map(|i| shape[*i].0.min(WRAPPED_MIN))
            .sum();
        if room >= widest + others {
            room -= widest;
            wrapping.retain(|i| *i != index);
            kept.push(index);
        }
    }
    kept.sort_unstable();
    kept
}

/// Whether a character would steer the terminal rather than show: C0
/// controls (ESC starts the sequences that clear the screen or retitle the
/// window, BEL rings), DEL, C1 controls, and the bidirectional overrides
/// and isolates that reorder what follows (U+202A–U+202E, U+2066–U+2069,
/// with the marks U+200E, U+200F and U+061C).
pub fn is_terminal_control(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}')
}

/// Text made safe to print on a terminal: each control character shown
/// as its escape (`\u{1b}`), so that catalog text (titles, descriptions,
/// server messages) cannot clear the screen, ring, or reverse what follows.
/// Newlines are kept when `multiline`, tabs become a space.
pub fn printable(text: &str, multiline: bool) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(is_terminal_control) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' if multiline => out.push('\n'),
            '\t' => out.push(' '),
            c if is_terminal_control(c) => out.push_str(&c.escape_unicode().to_string()),
            c => out.push(c),
        }
    }
    out.into()
}

/// A value as one cell: text as is, lists of plain values joined with
/// `, `, other lists and objects as compact JSON; shortened in tables, and
/// there shown with its control characters escaped ([`printable`]).
pub fn cell_text(value: &Value, short: bool) -> String {
    let text = match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        Value::Bool(_) | Value::Number(_) => value.to_string(),
        Value::Array(items)
            if items
                .iter()
                .all(|i| !matches!(i, Value::Array(_) | Value::Object(_))) =>
        {
            items
                .iter()
                .map(|i| cell_text(i, false))
                .collect::<Vec<_>>()
                .join(", ")
        }
        other => other.to_string(),
    };
    let text = if short {
        printable(&text, true).into_owned()
    } else {
        text
    };
    if short && text.chars().count() > CELL_MAX {
        let mut cut: String = text.chars().take(CELL_MAX - 1).collect();
        cut.push('…');
        cut
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_keep_the_order_of_their_keys() {
        let record = Record::from_json(r#"{"z": 1, "a": 2, "m": {"y": 1, "b": 2}}"#).unwrap();
        assert_eq!(record.keys().collect::<Vec<_>>(), ["z", "a", "m"]);
        // Nested objects keep serde_json's own order, which depends on its
        // `preserve_order` feature (on in a workspace build with the xtask).
        let text = serde_json::to_string(&record).unwrap();
        assert!(text.starts_with(r#"{"z":1,"a":2,"m":"#), "{text}");
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value, json!({"z": 1, "a": 2, "m": {"y": 1, "b": 2}}));
    }

    #[test]
    fn dotted_paths_reach_into_objects_and_lists() {
        let record = Record::from_json(
            r#"{"avg.views": 3, "organization": {"name": "Insee", "x.y": {"z": 1}},
                "resources": [{"title": "a"}, {"title": "b"}], "tags": ["t1", "t2"]}"#,
        )
        .unwrap();
        assert_eq!(record.get("avg.views"), json!(3));
        assert_eq!(record.get("organization.name"), json!("Insee"));
        assert_eq!(record.get("organization.x.y.z"), json!(1));
        assert_eq!(record.get("resources.title"), json!(["a", "b"]));
        assert_eq!(record.get("resources.1.title"), json!("b"));
        assert_eq!(record.get("tags.0"), json!("t1"));
        assert_eq!(record.get("nope.nothing"), Value::Null);
        let projected = record.project(&["tags".into(), "organization.name".into()]);
        assert_eq!(
            serde_json::to_string(&projected).unwrap(),
            r#"{"tags":["t1","t2"],"organization.name":"Insee"}"#
        );
    }

    #[test]
    fn narrow_terminals_wrap_text_before_identifiers() {
        let header: Vec<String> = ["id", "title", "format"].map(String::from).into();
        let rows = vec![vec![
            "78348f03-a11c-4a6b-b8db-2acf4fee81b1".to_owned(),
            "Valeurs foncières 2023".to_owned(),
            "csv".to_owned(),
        ]];
        // Everything fits: nothing wraps.
        assert_eq!(unwrapped_columns(&header, &rows, 100), [0, 2]);
        // The title wraps, the id stays whole.
        assert_eq!(unwrapped_columns(&header, &rows, 64), [0, 2]);
        // Too narrow for the id and ten characters of title: the id wraps too.
        assert_eq!(unwrapped_columns(&header, &rows, 50), [2]);
    }

    #[test]
    fn cells_are_plain_text() {
        assert_eq!(cell_text(&json!(null), true), "");
        assert_eq!(cell_text(&json!(["a", 1, true]), true), "a, 1, true");
        assert_eq!(cell_text(&json!({"k": [1]}), true), r#"{"k":[1]}"#);
        let long = "x".repeat(200);
        assert_eq!(cell_text(&json!(long), true).chars().count(), CELL_MAX);
        assert_eq!(cell_text(&json!(long), false).len(), 200);
    }

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        let text = "a\u{1b}[2J b\u{7} c\u{202e} d\u{9b}\te\nf\u{2069}";
        assert_eq!(
            printable(text, true),
            "a\\u{1b}[2J b\\u{7} c\\u{202e} d\\u{9b} e\nf\\u{2069}"
        );
        assert_eq!(printable("a\nb", false), "a\\u{a}b");
        assert_eq!(printable("Données", true), "Données");
        let record = Record::from_pairs([("t", json!(text))]);
        let compact = json_text(&record, false);
        assert!(!compact.chars().any(is_terminal_control), "{compact}");
        let back: Value = serde_json::from_str(&compact).unwrap();
        assert_eq!(back["t"], text);
        assert!(json_text(&record, true).contains('\n'));
    }
}
