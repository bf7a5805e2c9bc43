//! CSV exports with the values the JSON endpoints give.
//!
//! api-tabular passes PostgREST's CSV through, and PostgREST writes each
//! row as PostgreSQL's record text, not as the values the JSON endpoints
//! (and so `tabular query`, the JSON and Parquet exports) give:
//!
//! | the server's CSV | here, as the JSON path |
//! | --- | --- |
//! | booleans `t` / `f` | `true` / `false` |
//! | timestamps `"2024-03-30 22:15:00"`, `…+02` | `2024-03-30T22:15:00`, `…+02:00` |
//! | `\` doubled inside quotes: `"C:\\temp"` | `"C:\temp"` |
//! | the header's names unquoted (`say "hi"`) | quoted where CSV needs it (`"say ""hi"""`) |
//!
//! NULL stays an empty field and an empty string `""`; numbers, dates and
//! JSON text are the same on both paths. Booleans and timestamps are known
//! by the resource's profile (Tabular API); without one (Metrics API) only
//! the quoting is rewritten.
//!
//! Each window body is rewritten as it streams, before the joiner: the
//! header of each window tells the column order. Speed: a window without
//! boolean or timestamp columns is copied span by span between quotes and
//! backslashes (memchr); with such columns, field by field between commas.

use memchr::{memchr, memchr2};
use std::collections::HashMap;

use super::joiner::csv_field;

/// How a column's values are rewritten.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// As the server writes it (quoting aside).
    Plain,
    /// `t`/`f` become `true`/`false`.
    Bool,
    /// `2024-03-30 22:15:00+02` becomes `2024-03-30T22:15:00+02:00`.
    DateTime,
}

impl Kind {
    /// The kind of a profile's `python_type`.
    pub(crate) fn of(python_type: &str) -> Kind {
        match python_type {
            "bool" => Kind::Bool,
            "datetime" => Kind::DateTime,
            _ => Kind::Plain,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// The window's first line, read whole.
    Header,
    /// At the first byte of a field.
    FieldStart,
    /// Outside quotes.
    Unquoted,
    /// Inside quotes.
    Quoted,
    /// Inside quotes, just after a `"`: the end of the quotes or half of `""`.
    AfterQuote,
    /// Inside quotes, just after a `\`: half of `\\` or a lone one.
    AfterBackslash,
}

/// Rewrites the CSV of export windows (see the module's doc).
pub(crate) struct CsvRewriter {
    /// Column name → kind, from the profile.
    kinds: HashMap<String, Kind>,
    /// The columns in the order the server writes them, when known: their
    /// names joined by commas are the header (names may hold commas).
    expected: Vec<String>,
    /// This window's columns, in order.
    columns: Vec<Kind>,
    /// Whether any column of this window is rewritten value by value.
    typed: bool,
    state: State,
    /// The field being read, by position in the row.
    column: usize,
    /// The current field is read into `value` (rewritten at its end)
    /// rather than copied.
    holding: bool,
    /// The header line, then the value of a held field.
    value: Vec<u8>,
    /// The held field was quoted.
    value_quoted: bool,
}

impl CsvRewriter {
    /// A rewriter for a resource whose columns have these kinds; `expected`
    /// is the header's names in order when known (else the header is split
    /// at its commas).
    pub(crate) fn new(kinds: HashMap<String, Kind>, expected: Vec<String>) -> CsvRewriter {
        CsvRewriter {
            kinds,
            expected,
            columns: Vec::new(),
            typed: false,
            state: State::Header,
            column: 0,
            holding: false,
            value: Vec::new(),
            value_quoted: false,
        }
    }

    /// Starts a window (its first line is its header).
    pub(crate) fn start_window(&mut self) {
        self.state = State::Header;
        self.value.clear();
        self.column = 0;
        self.holding = false;
    }

    /// A chunk of the window's body, rewritten: the chunk itself when
    /// nothing in it changes (no typed column, no backslash: only the quote
    /// state is followed, by the parity of its quotes, since `""` inside
    /// quotes counts two), else `out` holding the rewritten bytes.
    pub(crate) fn rewrite<'a>(&mut self, chunk: &'a [u8], out: &'a mut Vec<u8>) -> &'a [u8] {
        let plain_state = matches!(
            self.state,
            State::FieldStart | State::Unquoted | State::Quoted
        );
        if !self.typed && plain_state && memchr(b'\\', chunk).is_none() {
            let quotes = memchr::memchr_iter(b'"', chunk).count();
            if quotes % 2 == 1 {
                self.state = if self.state == State::Quoted {
                    State::Unquoted
                } else {
                    State::Quoted
                };
            }
            return chunk;
        }
        out.clear();
        self.feed(chunk, out);
        out
    }

    /// Rewrites a chunk of the window's body into `out`.
    pub(crate) fn feed(&mut self, mut rest: &[u8], out: &mut Vec<u8>) {
        while !rest.is_empty() {
            match self.state {
                State::Header => match memchr(b'\n', rest) {
                    None => {
                        self.value.extend_from_slice(rest);
                        return;
                    }
                    Some(at) => {
                        self.value.extend_from_slice(&rest[..at]);
                        rest = &rest[at + 1..];
                        self.end_header(out);
                    }
                },
                State::FieldStart => {
                    self.holding = self.typed
                        && self
                            .columns
                            .get(self.column)
                            .copied()
                            .unwrap_or(Kind::Plain)
                            != Kind::Plain;
                    self.value_quoted = false;
                    if rest[0] == b'"' {
                        rest = &rest[1..];
                        self.value_quoted = true;
                        if !self.holding {
                            out.push(b'"');
                        }
                        self.state = State::Quoted;
                    } else {
                        self.state = State::Unquoted;
                    }
                }
                State::Unquoted if !self.typed => {
                    // Field positions do not matter: copy up to the next quote.
                    match memchr(b'"', rest) {
                        None => {
                            out.extend_from_slice(rest);
                            return;
                        }
                        Some(at) => {
                            out.extend_from_slice(&rest[..=at]);
                            rest = &rest[at + 1..];
                            self.state = State::Quoted;
                        }
                    }
                }
                State::Unquoted => match memchr2(b',', b'\n', rest) {
                    None => {
                        self.take(rest, out);
                        return;
                    }
                    Some(at) => {
                        self.take(&rest[..at], out);
                        self.end_field(out);
                        out.push(rest[at]);
                        self.column = if rest[at] == b'\n' {
                            0
                        } else {
                            self.column + 1
                        };
                        rest = &rest[at + 1..];
                        self.state = State::FieldStart;
                    }
                },
                State::Quoted => match memchr2(b'"', b'\\', rest) {
                    None => {
                        self.take(rest, out);
                        return;
                    }
                    Some(at) => {
                        self.take(&rest[..at], out);
                        self.state = if rest[at] == b'"' {
                            State::AfterQuote
                        } else {
                            State::AfterBackslash
                        };
                        rest = &rest[at + 1..];
                    }
                },
                State::AfterBackslash => {
                    // PostgreSQL doubles `\` inside quotes; a lone one is kept.
                    self.take(b"\\", out);
                    if rest[0] == b'\\' {
                        rest = &rest[1..];
                    }
                    self.state = State::Quoted;
                }
                State::AfterQuote => {
                    if rest[0] == b'"' {
                        rest = &rest[1..];
                        self.take(if self.holding { b"\"" } else { b"\"\"" }, out);
                        self.state = State::Quoted;
                    } else {
                        if !self.holding {
                            out.push(b'"');
                        }
                        self.state = State::Unquoted;
                    }
                }
            }
        }
    }

    /// Ends the window: a last field without a line end, a header alone.
    pub(crate) fn end_window(&mut self, out: &mut Vec<u8>) {
        match self.state {
            State::Header if !self.value.is_empty() => self.end_header(out),
            State::AfterQuote if !self.holding => out.push(b'"'),
            _ => {}
        }
        if self.holding {
            self.end_field(out);
            self.holding = false;
        }
        self.state = State::Header;
    }

    /// Copies bytes of the current field, or holds them.
    fn take(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        if self.holding {
            self.value.extend_from_slice(bytes);
        } else {
            out.extend_from_slice(bytes);
        }
    }

    /// Writes a held field, rewritten.
    fn end_field(&mut self, out: &mut Vec<u8>) {
        if !self.holding {
            return;
        }
        self.holding = false;
        let kind = self
            .columns
            .get(self.column)
            .copied()
            .unwrap_or(Kind::Plain);
        let value = std::mem::take(&mut self.value);
        match (kind, value.as_slice()) {
            // NULL.
            (_, []) if !self.value_quoted => {}
            (Kind::Bool, b"t") => out.extend_from_slice(b"true"),
            (Kind::Bool, b"f") => out.extend_from_slice(b"false"),
            (Kind::DateTime, text) if iso_datetime(text, out) => {}
            (_, text) => {
                out.extend_from_slice(csv_field(&String::from_utf8_lossy(text)).as_bytes())
            }
        }
        self.value = value;
        self.value.clear();
    }

    /// Reads the header held in `value`: the columns' kinds, and the header
    /// written as CSV.
    fn end_header(&mut self, out: &mut Vec<u8>) {
        let text = String::from_utf8_lossy(&self.value).into_owned();
        let text = text.strip_suffix('\r').unwrap_or(&text);
        let names: Vec<String> = if !self.expected.is_empty() && self.expected.join(",") == text {
            self.expected.clone()
        } else {
            text.split(',').map(str::to_owned).collect()
        };
        self.columns = names
            .iter()
            .map(|name| self.kinds.get(name).copied().unwrap_or(Kind::Plain))
            .collect();
        self.typed = self.columns.iter().any(|kind| *kind != Kind::Plain);
        if !text.is_empty() {
            let fields: Vec<String> = names.iter().map(|name| csv_field(name)).collect();
            out.extend_from_slice(fields.join(",").as_bytes());
            out.push(b'\n');
        }
        self.value.clear();
        self.column = 0;
        self.state = State::FieldStart;
    }
}

/// Writes PostgreSQL's `2024-03-30 22:15:00[.123][+02[:30]]` as JSON gives
/// it (`T` between date and time, the offset as `+02:00`); `false` (nothing
/// written) for any other text (`infinity`, BC dates).
fn iso_datetime(text: &[u8], out: &mut Vec<u8>) -> bool {
    let shaped = text.len() >= 19
        && text[4] == b'-'
        && text[7] == b'-'
        && text[10] == b' '
        && text[13] == b':'
        && !text[11..].contains(&b' ');
    if !shaped {
        return false;
    }
    out.extend_from_slice(&text[..10]);
    out.push(b'T');
    let time = &text[11..];
    match time.iter().rposition(|b| matches!(b, b'+' | b'-')) {
        Some(at) if at >= 8 => {
            out.extend_from_slice(time);
            if time.len() - at == 3 {
                out.extend_from_slice(b":00");
            }
        }
        _ => out.extend_from_slice(time),
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewriter() -> CsvRewriter {
        let kinds = [("actif", Kind::Bool), ("horodatage", Kind::DateTime)]
            .into_iter()
            .map(|(n, k)| (n.to_owned(), k))
            .collect();
        CsvRewriter::new(kinds, Vec::new())
    }

    fn rewrite(mut rewriter: CsvRewriter, body: &str) -> String {
        let mut out = Vec::new();
        rewriter.start_window();
        rewriter.feed(body.as_bytes(), &mut out);
        rewriter.end_window(&mut out);
        String::from_utf8(out).unwrap()
    }

    /// Every way of cutting a body in two gives the same CSV.
    fn rewrite_split_everywhere(make: impl Fn() -> CsvRewriter, body: &str) -> String {
        let whole = rewrite(make(), body);
        for cut in 0..=body.len() {
            let mut rewriter = make();
            let mut out = Vec::new();
            rewriter.start_window();
            let mut scratch = Vec::new();
            for piece in [&body.as_bytes()[..cut], &body.as_bytes()[cut..]] {
                let rewritten = rewriter.rewrite(piece, &mut scratch);
                out.extend_from_slice(rewritten);
            }
            rewriter.end_window(&mut out);
            assert_eq!(String::from_utf8(out).unwrap(), whole, "cut at {cut}");
        }
        whole
    }

    #[test]
    fn values_are_written_as_the_json_path_gives_them() {
        let body = "__id,nom,actif,horodatage,say \"hi\"\n\
                    1,\"C:\\\\temp \"\"q\"\" \\x\",t,\"2024-03-30 22:15:00\",\"\"\n\
                    2,,f,\"2024-03-30 22:15:00.5+02\",x\n\
                    3,plain,,,\"a\nb\"\n\
                    4,\"(x)\",t,infinity,\"2024-03-30 22:15:00\"\n\n";
        assert_eq!(
            rewrite_split_everywhere(rewriter, body),
            "__id,nom,actif,horodatage,\"say \"\"hi\"\"\"\n\
             1,\"C:\\temp \"\"q\"\" \\x\",true,2024-03-30T22:15:00,\"\"\n\
             2,,false,2024-03-30T22:15:00.5+02:00,x\n\
             3,plain,,,\"a\nb\"\n\
             4,\"(x)\",true,infinity,\"2024-03-30 22:15:00\"\n\n"
        );
    }

    #[test]
    fn without_typed_columns_only_the_quoting_is_rewritten() {
        let body = "a,b\n1,\"q \"\"z\"\" w\"\n2,\"x\\\\y\"\n3,t\n4,\"\"\"\"\n5,\"\\\\\"\n";
        assert_eq!(
            rewrite_split_everywhere(rewriter, body),
            "a,b\n1,\"q \"\"z\"\" w\"\n2,\"x\\y\"\n3,t\n4,\"\"\"\"\n5,\"\\\"\n"
        );
    }

    /// CPU time of the joiner alone and of the rewriter then the joiner,
    /// on 20 windows of 50,000 rows with a boolean and a timestamp column
    /// (the typed path) and without them (the plain path):
    /// `cargo test --release -p datagouv --lib export::csv::tests::throughput -- --ignored --nocapture`
    #[test]
    #[ignore = "a measure, not a check; run in release"]
    fn throughput() {
        use super::super::{
            ExportFormat,
            joiner::{JoinState, Joiner},
        };
        let window = super::super::measure::sample_window(&[
            "Élodie Dupré",
            "plain",
            "Jean \"Jojo\" Martin",
        ]);
        let chunks: Vec<&[u8]> = window.as_bytes().chunks(64 * 1024).collect();
        let windows = 20;
        let bytes = (window.len() * windows) as f64;
        let measure = |name: &str, kinds: Option<&[(&str, Kind)]>| {
            let mut rewriter = kinds.map(|kinds| {
                let kinds = kinds.iter().map(|(n, k)| ((*n).to_owned(), *k)).collect();
                CsvRewriter::new(kinds, Vec::new())
            });
            let mut joiner = Joiner::new(ExportFormat::Csv, JoinState::default());
            let (mut rewritten, mut joined) = (Vec::new(), Vec::new());
            let clock = super::super::measure::CpuClock::start();
            for _ in 0..windows {
                joiner.start_window();
                if let Some(rewriter) = &mut rewriter {
                    rewriter.start_window();
                }
                for chunk in &chunks {
                    match &mut rewriter {
                        Some(rewriter) => {
                            let bytes = rewriter.rewrite(chunk, &mut rewritten);
                            joiner.feed(bytes, &mut joined);
                        }
                        None => joiner.feed(chunk, &mut joined),
                    }
                    joined.clear();
                }
                joiner.end_window(&mut joined);
            }
            let seconds = clock.seconds();
            println!("{name}: {:.0} MB/s of CPU time", bytes / seconds / 1e6);
        };
        measure("joiner alone", None);
        measure(
            "rewriter (no boolean or timestamp column) + joiner",
            Some(&[]),
        );
        measure(
            "rewriter (a boolean and a timestamp column) + joiner",
            Some(&[("actif", Kind::Bool), ("horodatage", Kind::DateTime)]),
        );
    }

    #[test]
    fn a_header_with_commas_in_names_is_read_by_the_expected_names() {
        let make = || {
            let kinds = [("a,b".to_owned(), Kind::Bool)].into_iter().collect();
            CsvRewriter::new(kinds, vec!["__id".into(), "a,b".into(), "c".into()])
        };
        assert_eq!(
            rewrite_split_everywhere(make, "__id,a,b,c\n1,t,f\n"),
            "__id,\"a,b\",c\n1,true,f\n"
        );
    }
}
