//! Joins the bodies of export windows into one document at memory speed:
//! only the bytes that matter (quotes, newlines; JSON structure) are looked
//! at one by one, the spans between them are copied whole.

use memchr::{memchr2, memchr3};

use super::ExportFormat;

/// What a joiner carries from one window to the next (all a resumed export
/// needs to go on writing the same document).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct JoinState {
    /// Rows written.
    pub rows: u64,
    /// CSV: the header was written.
    pub header_written: bool,
    /// JSON: an item was written (the next one needs a comma).
    pub wrote_item: bool,
}

/// Joins window bodies: one CSV header and no blank line between windows,
/// or one JSON array.
pub(crate) struct Joiner {
    json: bool,
    pub state: JoinState,
    /// CSV: the header line of the current window, until its end.
    header: Vec<u8>,
    /// CSV: still in this window's header line. JSON: before the opening `[`.
    at_start: bool,
    /// CSV: inside a quoted field. JSON: inside a string.
    quoted: bool,
    /// JSON: the previous byte in a string was a backslash.
    escaped: bool,
    /// JSON: nesting depth inside the array.
    depth: u32,
    /// CSV: newlines seen after the last row byte, not yet written (the
    /// server ends each body with an extra one).
    held: Vec<u8>,
    /// CSV: the window wrote a row byte. JSON: the window wrote an item.
    window_has_item: bool,
}

impl Joiner {
    pub(crate) fn new(format: ExportFormat, state: JoinState) -> Joiner {
        Joiner {
            json: format == ExportFormat::Json,
            state,
            header: Vec::new(),
            at_start: true,
            quoted: false,
            escaped: false,
            depth: 0,
            held: Vec::new(),
            window_has_item: false,
        }
    }

    /// Rows written so far.
    pub(crate) fn rows(&self) -> u64 {
        self.state.rows
    }

    pub(crate) fn start_window(&mut self) {
        self.header.clear();
        self.held.clear();
        self.at_start = true;
        self.quoted = false;
        self.escaped = false;
        self.depth = 0;
        self.window_has_item = false;
    }

    pub(crate) fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        if self.json {
            self.feed_json(chunk, out);
        } else {
            self.feed_csv(chunk, out);
        }
    }

    /// CSV: the first line of each window is its header (kept once); rows
    /// end at newlines outside quotes; newlines are held back so that the
    /// server's extra final newline can be dropped.
    fn feed_csv(&mut self, mut rest: &[u8], out: &mut Vec<u8>) {
        while self.at_start && !rest.is_empty() {
            let Some(at) = memchr2(b'"', b'\n', rest) else {
                self.header.extend_from_slice(rest);
                return;
            };
            self.header.extend_from_slice(&rest[..=at]);
            let byte = rest[at];
            rest = &rest[at + 1..];
            if byte == b'"' {
                self.quoted = !self.quoted;
            } else if !self.quoted {
                self.at_start = false;
                if self.header.len() > 1 && !self.state.header_written {
                    out.extend_from_slice(&self.header);
                    self.state.header_written = true;
                }
                self.header.clear();
            }
        }
        self.feed_csv_rows(rest, out);
    }

    /// CSV rows: copied whole, except the newlines that end the chunk
    /// outside quotes (held: written before the next row byte, dropped at
    /// the window's end) and those that open a window. Rows are counted by
    /// the newlines outside quotes, 64 bytes at a time ([`row_ends`]).
    fn feed_csv_rows(&mut self, mut rest: &[u8], out: &mut Vec<u8>) {
        if !self.window_has_item {
            let skip = rest.iter().take_while(|b| **b == b'\n').count();
            rest = &rest[skip..];
        }
        if rest.is_empty() {
            return;
        }
        // Newlines outside quotes end rows; the quote state at the chunk's
        // end decides whether its trailing newlines end rows or are data.
        let (row_ends, end_quoted) = row_ends(rest, self.quoted);
        let trailing = if end_quoted {
            0
        } else {
            rest.iter().rev().take_while(|b| **b == b'\n').count()
        };
        let body = &rest[..rest.len() - trailing];
        if body.is_empty() {
            self.held.extend_from_slice(rest);
            return;
        }
        if !self.held.is_empty() {
            out.extend_from_slice(&self.held);
            self.state.rows += self.held.len() as u64;
            self.held.clear();
        }
        self.state.rows += row_ends - trailing as u64;
        out.extend_from_slice(body);
        self.quoted = end_quoted;
        self.window_has_item = true;
        self.held.extend_from_slice(&rest[body.len()..]);
    }

    /// JSON: drop the window's `[` and `]`, join items with commas, count
    /// the top-level values; the window's own separators are dropped.
    fn feed_json(&mut self, mut rest: &[u8], out: &mut Vec<u8>) {
        if self.at_start {
            match memchr::memchr(b'[', rest) {
                None => return,
                Some(at) => {
                    self.at_start = false;
                    rest = &rest[at + 1..];
                }
            }
        }
        while !rest.is_empty() {
            if self.quoted {
                // Inside a string: copy up to the next quote or backslash.
                if self.escaped {
                    self.escaped = false;
                    out.push(rest[0]);
                    rest = &rest[1..];
                    continue;
                }
                match memchr2(b'"', b'\\', rest) {
                    None => {
                        out.extend_from_slice(rest);
                        return;
                    }
                    Some(at) => {
                        out.extend_from_slice(&rest[..=at]);
                        if rest[at] == b'"' {
                            self.quoted = false;
                        } else {
                            self.escaped = true;
                        }
                        rest = &rest[at + 1..];
                    }
                }
                continue;
            }
            if self.depth > 0 {
                // Inside an item, outside strings: copy up to the next
                // quote or bracket (numbers, `:`, `,` need no look).
                let Some(at) = find_structure(rest) else {
                    out.extend_from_slice(rest);
                    return;
                };
                out.extend_from_slice(&rest[..=at]);
                match rest[at] {
                    b'"' => self.quoted = true,
                    b'{' | b'[' => self.depth += 1,
                    _ => self.depth -= 1,
                }
                rest = &rest[at + 1..];
                continue;
            }
            // Between items: a comma, blanks, the closing `]`, or a new item.
            let byte = rest[0];
            rest = &rest[1..];
            match byte {
                b'{' | b'[' | b'"' => {
                    if !self.state.wrote_item {
                        out.push(b'[');
                    } else {
                        out.push(b',');
                    }
                    self.state.rows += 1;
                    self.state.wrote_item = true;
                    self.window_has_item = true;
                    out.push(byte);
                    if byte == b'"' {
                        self.quoted = true;
                    } else {
                        self.depth = 1;
                    }
                }
                // The separators of the window; the joiner writes its own.
                _ => {}
            }
        }
    }

    pub(crate) fn end_window(&mut self, out: &mut Vec<u8>) {
        // CSV: the held newlines end the last row (the server may add a
        // blank line); a window whose body is only blank lines has no row.
        if !self.json && self.window_has_item {
            out.push(b'\n');
            self.state.rows += 1;
        }
        self.held.clear();
    }

    /// Whether the document still lacks its CSV header.
    pub(crate) fn needs_header(&self) -> bool {
        !self.json && !self.state.header_written
    }

    /// Ends the document; `empty_header` is the CSV header written when no
    /// window sent one (the server sends none for an empty result).
    pub(crate) fn finish(&mut self, out: &mut Vec<u8>, empty_header: &[String]) {
        if self.json {
            out.extend_from_slice(if self.state.wrote_item {
                b"]\n"
            } else {
                b"[]\n"
            });
        } else if !self.state.header_written && !empty_header.is_empty() {
            let fields: Vec<String> = empty_header.iter().map(|name| csv_field(name)).collect();
            out.extend_from_slice(fields.join(",").as_bytes());
            out.push(b'\n');
            self.state.header_written = true;
        }
    }
}

/// The newlines outside double quotes in `text`, and whether it ends
/// inside quotes, given whether it starts inside. 64 bytes at a time: bit
/// masks of quotes and newlines (safe SIMD through `wide`), the quoted
/// spans by a prefix XOR of the quote mask, no branch per byte.
fn row_ends(text: &[u8], mut quoted: bool) -> (u64, bool) {
    let (blocks, tail) = text.as_chunks::<64>();
    let mut inside = if quoted { u64::MAX } else { 0 };
    let mut rows = 0u64;
    for block in blocks {
        let (quotes, newlines) = masks(block);
        let mut spans = quotes;
        for shift in [1, 2, 4, 8, 16, 32] {
            spans ^= spans << shift;
        }
        // Bit i set: byte i is inside quotes (a quote opens a span at itself).
        let spans = spans ^ inside;
        rows += u64::from((newlines & !spans).count_ones());
        inside = if spans >> 63 == 1 { u64::MAX } else { 0 };
    }
    quoted = inside != 0;
    for byte in tail {
        match byte {
            b'"' => quoted = !quoted,
            b'\n' if !quoted => rows += 1,
            _ => {}
        }
    }
    (rows, quoted)
}

/// Bit masks of the double quotes and newlines of 64 bytes.
fn masks(block: &[u8; 64]) -> (u64, u64) {
    let (low, high) = block.split_at(32);
    let halves = [low, high].map(|half| wide::u8x32::new(half.try_into().expect("32 bytes")));
    let mask = |byte: u8| {
        let [low, high] =
            halves.map(|half| u64::from(half.simd_eq(wide::u8x32::splat(byte)).to_bitmask()));
        low | high << 32
    };
    (mask(b'"'), mask(b'\n'))
}

/// The next `"`, `{`, `[`, `}` or `]` in JSON text outside strings.
fn find_structure(text: &[u8]) -> Option<usize> {
    let open = memchr3(b'"', b'{', b'[', text);
    let limit = open.unwrap_or(text.len());
    match memchr2(b'}', b']', &text[..limit]) {
        Some(close) => Some(close),
        None => open,
    }
}

/// A CSV field, quoted when it must be.
pub(crate) fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn join(format: ExportFormat, windows: &[&[&str]]) -> (String, u64) {
        let mut joiner = Joiner::new(format, JoinState::default());
        let mut out = Vec::new();
        for window in windows {
            joiner.start_window();
            for chunk in *window {
                joiner.feed(chunk.as_bytes(), &mut out);
            }
            joiner.end_window(&mut out);
        }
        joiner.finish(&mut out, &["__id".into(), "say \"hi\"".into()]);
        (String::from_utf8(out).unwrap(), joiner.rows())
    }

    /// Every way of cutting the windows into chunks gives the same document.
    fn join_split_everywhere(format: ExportFormat, windows: &[&str]) -> (String, u64) {
        let whole: Vec<Vec<&str>> = windows.iter().map(|w| vec![*w]).collect();
        let whole: Vec<&[&str]> = whole.iter().map(Vec::as_slice).collect();
        let expected = join(format, &whole);
        for (index, window) in windows.iter().enumerate() {
            for cut in 0..=window.len() {
                if !window.is_char_boundary(cut) {
                    continue;
                }
                let mut pieces: Vec<Vec<&str>> = windows.iter().map(|w| vec![*w]).collect();
                pieces[index] = vec![&window[..cut], &window[cut..]];
                let pieces: Vec<&[&str]> = pieces.iter().map(Vec::as_slice).collect();
                assert_eq!(
                    join(format, &pieces),
                    expected,
                    "cut at {cut} of window {index}"
                );
            }
        }
        expected
    }

    #[test]
    fn csv_windows_join_with_one_header_and_no_blank_line() {
        let (csv, rows) = join_split_everywhere(
            ExportFormat::Csv,
            &[
                "__id,\"a,\"\"b\"\n1,x\n2,\"multi\nline \"\"q\"\"\"\n\n",
                "\n\n",
                "__id,\"a,\"\"b\"\n3,z\n",
            ],
        );
        assert_eq!(
            csv,
            "__id,\"a,\"\"b\"\n1,x\n2,\"multi\nline \"\"q\"\"\"\n3,z\n"
        );
        assert_eq!(rows, 3);
    }

    #[test]
    fn row_ends_agree_with_a_byte_by_byte_count() {
        let text: Vec<u8> = (0..3000u32)
            .map(|i| match (i * 7919) % 11 {
                0 | 1 => b'"',
                2 => b'\n',
                _ => b'a',
            })
            .collect();
        for start in [0, 1, 63, 64, 65, 130] {
            for quoted in [false, true] {
                let text = &text[start..];
                let (mut rows, mut inside) = (0, quoted);
                for byte in text {
                    match byte {
                        b'"' => inside = !inside,
                        b'\n' if !inside => rows += 1,
                        _ => {}
                    }
                }
                assert_eq!(
                    row_ends(text, quoted),
                    (rows, inside),
                    "from {start}, quoted {quoted}"
                );
            }
        }
    }

    #[test]
    fn an_empty_csv_export_still_has_its_header() {
        let (csv, rows) = join(ExportFormat::Csv, &[&["\n\n"]]);
        assert_eq!((csv.as_str(), rows), ("__id,\"say \"\"hi\"\"\"\n", 0));
    }

    #[test]
    fn json_windows_join_into_one_array() {
        let (json, rows) = join_split_everywhere(
            ExportFormat::Json,
            &[
                "[{\"a\":[1,2],\"s\":\"]}\\\"\\\\\"}, \n {\"a\":null}]\n",
                "[]\n",
                "[{\"b\":{\"c\":[{}]}}]\n",
            ],
        );
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value.as_array().unwrap().len(), 3, "{json}");
        assert_eq!(value[0]["s"], "]}\"\\");
        assert_eq!(rows, 3);
    }

    #[test]
    fn a_resumed_joiner_goes_on_with_the_same_document() {
        let mut joiner = Joiner::new(ExportFormat::Json, JoinState::default());
        let mut first = Vec::new();
        joiner.start_window();
        joiner.feed(b"[{\"a\":1}]", &mut first);
        joiner.end_window(&mut first);
        let mut resumed = Joiner::new(ExportFormat::Json, joiner.state);
        let mut second = Vec::new();
        resumed.start_window();
        resumed.feed(b"[{\"a\":2}]", &mut second);
        resumed.end_window(&mut second);
        resumed.finish(&mut second, &[]);
        first.extend_from_slice(&second);
        assert_eq!(String::from_utf8(first).unwrap(), "[{\"a\":1},{\"a\":2}]\n");
        assert_eq!(resumed.rows(), 2);
    }
}
