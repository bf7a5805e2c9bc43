//! Parquet exports: the joined CSV of a Tabular export, decoded into typed
//! record batches ([`BatchDecoder`]) and written as a Parquet file, one row
//! group per window, in constant memory.
//!
//! Off the download path ([`ParquetWorker`]): the CSV is decoded on one
//! worker thread and the row groups are encoded on another, so the export's
//! task only joins the windows' bytes and writes what comes back, and the
//! next window downloads while the previous one is decoded and encoded.
//! The channels between them are bounded: a slow encoder slows the
//! download down, it never makes the export hold the table.
//!
//! Memory: the decoder holds at most one batch of raw values; the writer
//! holds the encoded, compressed pages of the row group in progress (one
//! window) and hands its bytes back when the row group ends.
//!
//! Compiled with the `parquet` feature: the `parquet` crate with its
//! `arrow` writer and the `snap` codec only (no other codec, no async, no
//! CSV, no encryption). Every column chunk is Snappy-compressed, with
//! statistics, and dictionary-encoded until its dictionary passes
//! [`DICTIONARY_PAGE_BYTES`].

use std::collections::HashMap;
use std::sync::mpsc as std_mpsc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use tokio::sync::mpsc;

use super::batches::{BatchDecoder, DecodeStats};
use crate::Error;

/// The most bytes of distinct values a column chunk's dictionary holds
/// before the column is written plain.
const DICTIONARY_PAGE_BYTES: usize = 64 * 1024;

/// Chunks of joined CSV waiting for the decoder thread (about 256 KiB each).
const CSV_CHUNKS_AHEAD: usize = 8;

/// Decoded batches waiting for the writer thread (8,192 rows each).
const BATCHES_AHEAD: usize = 4;

/// What the encoder wrote.
pub type ParquetStats = DecodeStats;

/// Turns the joined CSV of an export into Parquet bytes, row group by row
/// group, on the calling thread: what [`ParquetWorker`] does on two (the
/// tests compare them byte for byte).
#[cfg(test)]
pub(crate) struct ParquetEncoder {
    decoder: BatchDecoder,
    /// Batches decoded, not yet written.
    batches: Vec<RecordBatch>,
    file: ParquetFile,
}

#[cfg(test)]
impl ParquetEncoder {
    /// `types`: column name -> python type from the Tabular profile (see [`BatchDecoder::new`]).
    pub(crate) fn new(types: HashMap<String, String>) -> ParquetEncoder {
        ParquetEncoder {
            decoder: BatchDecoder::new(types),
            batches: Vec::new(),
            file: ParquetFile::default(),
        }
    }

    /// Feeds bytes of the joined CSV (split anywhere); appends to `out` any Parquet bytes ready to be written.
    pub(crate) fn feed_csv(&mut self, csv: &[u8], out: &mut Vec<u8>) -> Result<(), Error> {
        self.decoder.feed_csv(csv, &mut self.batches)?;
        self.file.write(self.batches.drain(..), out)
    }

    /// Ends the current row group (called at the end of every window of up to 50,000 rows); appends its bytes to
    /// `out`.
    pub(crate) fn end_row_group(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        self.decoder.end_window(&mut self.batches)?;
        self.file.write(self.batches.drain(..), out)?;
        self.file.end_row_group(out)
    }

    /// Ends the file (footer); an export with no row still gives a valid file with the header's schema.
    pub(crate) fn finish(mut self, out: &mut Vec<u8>) -> Result<ParquetStats, Error> {
        let schema = self.decoder.schema();
        let stats = self.decoder.finish(&mut self.batches)?;
        self.file.write(self.batches.drain(..), out)?;
        self.file.finish(schema, out)?;
        Ok(stats)
    }
}

/// The Parquet file being written: its writer is made with the first
/// batch, or at the end for a file with no row.
#[derive(Default)]
struct ParquetFile {
    writer: Option<ArrowWriter<Vec<u8>>>,
}

impl ParquetFile {
    /// Writes `batches` and moves out the bytes the writer finished.
    fn write(
        &mut self,
        batches: impl IntoIterator<Item = RecordBatch>,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let mut wrote = false;
        for batch in batches {
            let writer = match &mut self.writer {
                Some(writer) => writer,
                None => self.writer.insert(new_writer(batch.schema())?),
            };
            writer.write(&batch).map_err(parquet_error)?;
            wrote = true;
        }
        match &mut self.writer {
            // The writer may have closed a row group of its own (over a million rows).
            Some(writer) if wrote => drain(writer, out),
            _ => Ok(()),
        }
    }

    /// Ends the row group in progress; appends its bytes to `out`.
    fn end_row_group(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        if let Some(writer) = self.writer.as_mut() {
            writer.flush().map_err(parquet_error)?;
            drain(writer, out)?;
        }
        Ok(())
    }

    /// Ends the file (footer); with no row written, a file of `schema`, or
    /// of no column at all without one.
    fn finish(self, schema: Option<SchemaRef>, out: &mut Vec<u8>) -> Result<(), Error> {
        let mut writer = match self.writer {
            Some(writer) => writer,
            None => new_writer(
                schema.unwrap_or_else(|| std::sync::Arc::new(arrow_schema::Schema::empty())),
            )?,
        };
        writer.finish().map_err(parquet_error)?;
        out.append(writer.inner_mut());
        Ok(())
    }
}

/// What the export's task sends the decoder thread.
enum ToDecoder {
    Csv(Vec<u8>),
    EndRowGroup,
    Finish,
}

/// What the decoder thread sends the writer thread.
enum ToWriter {
    Batch(RecordBatch),
    EndRowGroup,
    Finish(Option<SchemaRef>, DecodeStats),
}

/// What the threads send back to the export's task.
enum Encoded {
    /// Bytes of the file, in order.
    Bytes(Vec<u8>),
    /// The footer was written: the file is complete.
    Done(ParquetStats),
    Failed(Error),
}

/// A Parquet encoder on two worker threads, one decoding the joined CSV
/// into batches, one encoding them into row groups. The export's task sends
/// it CSV (waiting only when the decoder is [`CSV_CHUNKS_AHEAD`] chunks
/// behind) and writes the bytes it sends back, in order. The threads end
/// when the file is finished, at the first error, or when the worker is
/// dropped (an export given up).
pub(crate) struct ParquetWorker {
    input: mpsc::Sender<ToDecoder>,
    output: mpsc::UnboundedReceiver<Encoded>,
}

impl ParquetWorker {
    /// Starts the threads; `types` as for [`BatchDecoder::new`].
    pub(crate) fn start(types: HashMap<String, String>) -> Result<ParquetWorker, Error> {
        let (input, csv) = mpsc::channel(CSV_CHUNKS_AHEAD);
        let (encoded, output) = mpsc::unbounded_channel();
        let (to_writer, batches) = std_mpsc::sync_channel(BATCHES_AHEAD);
        let failed = encoded.clone();
        spawn("datagouv-parquet-decode", move || {
            if let Err(error) = decode(types, csv, &to_writer) {
                let _ = failed.send(Encoded::Failed(error));
            }
        })?;
        spawn("datagouv-parquet-encode", move || {
            if let Err(error) = encode(&batches, &encoded) {
                let _ = encoded.send(Encoded::Failed(error));
            }
        })?;
        Ok(ParquetWorker { input, output })
    }

    /// Sends bytes of the joined CSV (split anywhere); appends to `out` the
    /// Parquet bytes ready so far.
    pub(crate) async fn feed_csv(&mut self, csv: Vec<u8>, out: &mut Vec<u8>) -> Result<(), Error> {
        self.send(ToDecoder::Csv(csv), out).await?;
        self.ready(out).map(drop)
    }

    /// Ends the current row group (every window); its bytes come later.
    pub(crate) async fn end_row_group(&mut self, out: &mut Vec<u8>) -> Result<(), Error> {
        self.send(ToDecoder::EndRowGroup, out).await?;
        self.ready(out).map(drop)
    }

    /// Ends the file: waits for the threads and appends the rest of it,
    /// footer included, to `out`.
    pub(crate) async fn finish(mut self, out: &mut Vec<u8>) -> Result<ParquetStats, Error> {
        self.send(ToDecoder::Finish, out).await?;
        loop {
            if let Some(stats) = self.ready(out)? {
                return Ok(stats);
            }
            match self.output.recv().await {
                Some(Encoded::Bytes(bytes)) => out.extend_from_slice(&bytes),
                Some(Encoded::Done(stats)) => return Ok(stats),
                Some(Encoded::Failed(error)) => return Err(error),
                None => return Err(stopped()),
            }
        }
    }

    async fn send(&mut self, message: ToDecoder, out: &mut Vec<u8>) -> Result<(), Error> {
        if self.input.send(message).await.is_ok() {
            return Ok(());
        }
        // The decoder stopped: its error (or the writer's) is in the output.
        while let Some(encoded) = self.output.recv().await {
            match encoded {
                Encoded::Bytes(bytes) => out.extend_from_slice(&bytes),
                Encoded::Failed(error) => return Err(error),
                Encoded::Done(_) => {}
            }
        }
        Err(stopped())
    }

    /// Appends the bytes the threads finished; the stats once the file is
    /// complete.
    fn ready(&mut self, out: &mut Vec<u8>) -> Result<Option<ParquetStats>, Error> {
        while let Ok(encoded) = self.output.try_recv() {
            match encoded {
                Encoded::Bytes(bytes) => out.extend_from_slice(&bytes),
                Encoded::Done(stats) => return Ok(Some(stats)),
                Encoded::Failed(error) => return Err(error),
            }
        }
        Ok(None)
    }
}

fn spawn(name: &str, work: impl FnOnce() + Send + 'static) -> Result<(), Error> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(work)
        .map(drop)
        .map_err(|error| {
            Error::InvalidInput(format!(
                "cannot start a thread of the Parquet encoder ({error}): the system is out of threads or memory"
            ))
        })
}

fn stopped() -> Error {
    Error::InvalidInput("the Parquet encoder stopped before the end of the file".into())
}

/// The decoder thread: CSV in, batches out, until `Finish` (or the export
/// is given up: the channel closes, the thread ends).
fn decode(
    types: HashMap<String, String>,
    mut csv: mpsc::Receiver<ToDecoder>,
    to_writer: &std_mpsc::SyncSender<ToWriter>,
) -> Result<(), Error> {
    let mut decoder = BatchDecoder::new(types);
    let mut decoded = Vec::new();
    let send = |decoded: &mut Vec<RecordBatch>| {
        decoded
            .drain(..)
            .try_for_each(|batch| to_writer.send(ToWriter::Batch(batch)))
            .is_ok()
    };
    loop {
        let Some(message) = csv.blocking_recv() else {
            return Ok(());
        };
        match message {
            ToDecoder::Csv(bytes) => decoder.feed_csv(&bytes, &mut decoded)?,
            ToDecoder::EndRowGroup => {
                decoder.end_window(&mut decoded)?;
                if !send(&mut decoded) || to_writer.send(ToWriter::EndRowGroup).is_err() {
                    return Ok(());
                }
            }
            ToDecoder::Finish => {
                let schema = decoder.schema();
                let stats = decoder.finish(&mut decoded)?;
                if send(&mut decoded) {
                    let _ = to_writer.send(ToWriter::Finish(schema, stats));
                }
                return Ok(());
            }
        }
        if !send(&mut decoded) {
            return Ok(());
        }
    }
}

/// The writer thread: batches in, bytes of the file out, in order.
fn encode(
    batches: &std_mpsc::Receiver<ToWriter>,
    encoded: &mpsc::UnboundedSender<Encoded>,
) -> Result<(), Error> {
    let mut file = ParquetFile::default();
    let mut out = Vec::new();
    let send = |out: &mut Vec<u8>| {
        if out.is_empty() {
            return true;
        }
        encoded.send(Encoded::Bytes(std::mem::take(out))).is_ok()
    };
    // A closed channel without `Finish`: the decoder failed (its error is
    // sent) or the export was given up.
    while let Ok(message) = batches.recv() {
        match message {
            ToWriter::Batch(batch) => file.write([batch], &mut out)?,
            ToWriter::EndRowGroup => file.end_row_group(&mut out)?,
            ToWriter::Finish(schema, stats) => {
                file.finish(schema, &mut out)?;
                if send(&mut out) {
                    let _ = encoded.send(Encoded::Done(stats));
                }
                return Ok(());
            }
        }
        if !send(&mut out) {
            return Ok(());
        }
    }
    Ok(())
}

/// The writer of a file of `schema`. Snappy: fast, and read everywhere.
/// Dictionaries pay for repeated values (codes, categories) but a column of
/// distinct values would hash every one of them until the dictionary
/// outgrew the default 1 MiB; at 64 KiB such a column turns to plain
/// encoding after a few thousand rows, which is as small once compressed
/// and much faster. `__id` never repeats.
fn new_writer(schema: arrow_schema::SchemaRef) -> Result<ArrowWriter<Vec<u8>>, Error> {
    let properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_dictionary_page_size_limit(DICTIONARY_PAGE_BYTES)
        .set_column_dictionary_enabled(ColumnPath::from("__id"), false)
        .build();
    ArrowWriter::try_new(Vec::new(), schema, Some(properties)).map_err(parquet_error)
}

/// Moves the bytes the writer has finished into `out`. The writer counts
/// the bytes it wrote itself, so emptying its `Vec` keeps the offsets of
/// the footer right.
fn drain(writer: &mut ArrowWriter<Vec<u8>>, out: &mut Vec<u8>) -> Result<(), Error> {
    writer
        .sync()
        .map_err(|error| Error::InvalidInput(format!("cannot write the Parquet file: {error}")))?;
    out.append(writer.inner_mut());
    Ok(())
}

fn parquet_error(error: parquet::errors::ParquetError) -> Error {
    Error::InvalidInput(format!("cannot write the Parquet file: {error}"))
}

#[cfg(test)]
mod tests {
    use super::super::batches::BATCH_ROWS;
    use super::*;
    use arrow_array::ArrayRef;
    use arrow_array::cast::AsArray;
    use arrow_array::types::{Date32Type, Float64Type, Int64Type, TimestampMicrosecondType};
    use arrow_array::{Array, RecordBatchReader};
    use arrow_schema::{DataType, TimeUnit};
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
        encoder.feed_csv(b"1,1\n", &mut out).unwrap();
        assert!(out.is_empty(), "a row group is written when it ends");
        encoder.end_row_group(&mut out).unwrap();
        assert!(out.starts_with(b"PAR1") && out.len() > 4);
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

    /// Runs the worker over `windows` as an export does, `out` written as
    /// it comes.
    async fn encode_on_threads(
        types: HashMap<String, String>,
        windows: &[&[&[u8]]],
    ) -> Result<(Vec<u8>, ParquetStats), Error> {
        let mut worker = ParquetWorker::start(types)?;
        let mut out = Vec::new();
        for window in windows {
            for chunk in *window {
                worker.feed_csv(chunk.to_vec(), &mut out).await?;
            }
            worker.end_row_group(&mut out).await?;
        }
        let stats = worker.finish(&mut out).await?;
        Ok((out, stats))
    }

    #[tokio::test]
    async fn the_worker_threads_write_the_same_file_as_one_thread() {
        let csv = SERVER_CSV.as_bytes();
        let at = csv.len() / 2;
        let (head, tail) = csv.split_at(at);
        let mut big = String::from("__id,s\n");
        for id in 1..=(2 * BATCH_ROWS + 7) {
            big.push_str(&format!("{id},\"v {id}\"\n"));
        }
        let halves = [head, tail];
        let whole = [big.as_bytes()];
        type Windows<'a> = Vec<&'a [&'a [u8]]>;
        let cases: [(HashMap<String, String>, Windows); 4] = [
            (
                profile_types(),
                vec![&halves, &[], &[b"13,x,y,1,2.5,3,t,2024-01-01,,,1,\n"]],
            ),
            (HashMap::new(), vec![&whole, &[b"99999,last\n"]]),
            (types(&[("d", "date")]), vec![&[b"__id,d\n"]]),
            (HashMap::new(), vec![]),
        ];
        for (types, windows) in cases {
            let expected = encode(types.clone(), &windows);
            let got = encode_on_threads(types, &windows).await.unwrap();
            assert!(
                got == expected,
                "{} bytes against {}",
                got.0.len(),
                expected.0.len()
            );
        }
    }

    #[tokio::test]
    async fn the_worker_threads_report_malformed_csv() {
        let error = encode_on_threads(HashMap::new(), &[&[b"a,b\n1,2\n3\n"]])
            .await
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("row 2 does not have the header's 2 fields (it has 1)"),
            "{error}"
        );
        let error = encode_on_threads(HashMap::new(), &[&[b"a\n\"open"]])
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("ends inside a quoted field"),
            "{error}"
        );
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
