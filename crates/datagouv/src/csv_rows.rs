//! The Main API's CSV exports (site and organization catalogs, `;`
//! separated, quoted, CRLF) as a stream of rows, read as they arrive.

use futures::{StreamExt, TryStreamExt, stream::BoxStream};
use std::collections::BTreeMap;

use crate::Error;

/// One CSV row: column name → value.
pub type CsvRow = BTreeMap<String, String>;

/// Reads a CSV body (e.g. the `ByteStream` of `get_site_datasets_csv`) as
/// rows keyed by the header, with udata's `;` separator.
pub fn csv_rows(body: progenitor_client::ByteStream) -> BoxStream<'static, Result<CsvRow, Error>> {
    let bytes = body.into_inner().map_err(std::io::Error::other);
    let reader = tokio_util::io::StreamReader::new(bytes);
    let csv = csv_async::AsyncReaderBuilder::new()
        .delimiter(b';')
        .flexible(true)
        .create_reader(reader);
    // The state is `None` once an error was yielded: the stream then ends.
    futures::stream::unfold(Some((csv, None::<Vec<String>>)), |state| async move {
        let (mut csv, header) = state?;
        let names = match header {
            Some(names) => names,
            None => match csv.headers().await {
                Ok(names) => names.iter().map(str::to_owned).collect(),
                Err(e) => {
                    return Some((
                        Err(Error::InvalidInput(format!(
                            "the CSV header cannot be read: {e}"
                        ))),
                        None,
                    ));
                }
            },
        };
        let mut record = csv_async::StringRecord::new();
        match csv.read_record(&mut record).await {
            Ok(false) => None,
            Ok(true) => {
                let row = names
                    .iter()
                    .cloned()
                    .zip(record.iter().map(str::to_owned))
                    .collect();
                Some((Ok(row), Some((csv, Some(names)))))
            }
            Err(e) => Some((
                Err(Error::InvalidInput(format!(
                    "a CSV row cannot be read: {e}"
                ))),
                None,
            )),
        }
    })
    .boxed()
}
