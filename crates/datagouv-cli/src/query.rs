//! The Tabular and Metrics commands: reading `--filter`, `--sort`, `--agg`
//! into a `datagouv::Query`, printing rows, exporting files with a progress
//! bar.

use datagouv::{
    Aggregate, Client, Condition, ExportFormat, ExportOptions, Filter, Order, Query, SyntaxKind,
};
use futures::{StreamExt, TryStreamExt};
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;
use std::{io::IsTerminal, path::Path};

use crate::{
    cli::{
        ExportArgs, FileFormat, GroupArgs, MetricsCommand, QueryArgs, RowsArgs, TabularArgs,
        TabularCommand,
    },
    error::CliError,
    output::{Output, Record},
};

const FILTER_HINT: &str = "write filters as column__operator=value, e.g. --filter nom__exact=Paris or --filter code__in=75,69 \
     (`isnull`/`isnotnull` take no value: --filter nom__isnull)";

/// A facade error of a Tabular or Metrics request, with hints about rows
/// rather than the catalog.
fn rows_error(error: datagouv::Error) -> CliError {
    let status = error.status().map(|s| s.as_u16());
    let error = CliError::from(error);
    match status {
        Some(404) => error.with_hint(
            "check the resource id (`datagouv resources list <dataset>` lists them; the Tabular API serves only the \
             CSV/XLS resources it has processed) or the metrics model (site, datasets, organizations, reuses, \
             resources, dataservices)",
        ),
        Some(400) => error.with_hint("`datagouv tabular profile <rid>` lists a resource's columns and types"),
        _ => error,
    }
}

/// A filter, group or sort that could not be read, as a usage error whose
/// hint names the flag it is written with.
fn syntax_error(error: datagouv::SyntaxError) -> CliError {
    let hint = match &error.kind {
        SyntaxKind::Filter => FILTER_HINT.to_owned(),
        SyntaxKind::Group => GROUP_HINT.to_owned(),
        SyntaxKind::ListInGroup { column, op } => format!(
            "write one condition per value, {}, or give the list to --filter {column}__{}=A,B",
            error.kind.per_value_group().unwrap_or_default(),
            op.name()
        ),
        SyntaxKind::Sort {
            column: Some(column),
            text,
        } => format!(
            "write --sort {column}:asc or --sort {column}:desc (a column whose name holds `:` takes its order \
             too: --sort {text}:asc)"
        ),
        _ => "write --sort column:asc or --sort column:desc".to_owned(),
    };
    CliError::usage(error.message).with_hint(hint)
}

/// Reads `--filter col__op=value` ([`datagouv::parse_filter`]).
pub fn parse_filter(text: &str) -> Result<Filter, CliError> {
    datagouv::parse_filter(text).map_err(syntax_error)
}

const GROUP_HINT: &str = "write groups as or(…) or and(…) around filters and groups separated by commas, e.g. \
     --where 'or(dep__exact=75, and(montant__greater=1000, statut__isnull))'; commas separate the items, so a value \
     inside a group cannot hold one (give it to --filter instead)";

/// Reads `--where or(…)|and(…)|col__op=value` ([`datagouv::parse_condition`]).
pub fn parse_condition(text: &str) -> Result<Condition, CliError> {
    datagouv::parse_condition(text).map_err(syntax_error)
}

/// Reads `--sort col:asc|desc` ([`datagouv::parse_sort`]).
pub fn parse_sort(text: &str) -> Result<(String, Order), CliError> {
    datagouv::parse_sort(text).map_err(syntax_error)
}

/// Reads `--agg col:avg|sum|min|max|count` (split at the last `:`).
pub fn parse_aggregate(text: &str) -> Result<(String, Aggregate), CliError> {
    let bad = || {
        CliError::usage(format!("`{text}` is not an aggregate"))
            .with_hint("write --agg column:avg (or sum, min, max, count), with --groupby column")
    };
    let (column, name) = text.rsplit_once(':').ok_or_else(bad)?;
    let aggregate = match name {
        "avg" => Aggregate::Avg,
        "sum" => Aggregate::Sum,
        "min" => Aggregate::Min,
        "max" => Aggregate::Max,
        "count" => Aggregate::Count,
        _ => return Err(bad()),
    };
    if column.is_empty() {
        return Err(bad());
    }
    Ok((column.to_owned(), aggregate))
}

/// Adds `--filter` and `--sort` to a query.
fn with_query_args(mut query: Query, args: &QueryArgs) -> Result<Query, CliError> {
    for text in &args.filter {
        query = query.with_filter(parse_filter(text)?);
    }
    for text in &args.sort {
        let (column, order) = parse_sort(text)?;
        query = query.sort(column, order);
    }
    Ok(query)
}

/// Adds `--where` to a query.
fn with_groups(mut query: Query, args: &GroupArgs) -> Result<Query, CliError> {
    for text in &args.groups {
        query = query.group(parse_condition(text)?);
    }
    Ok(query)
}

/// Adds `--columns`, `--groupby` and `--agg` to a query.
fn with_tabular_args(mut query: Query, args: &TabularArgs) -> Result<Query, CliError> {
    if !args.columns.is_empty() {
        query = query.columns(args.columns.iter().map(|c| c.trim().to_owned()));
    }
    for column in &args.groupby {
        query = query.aggregate(column.clone(), Aggregate::GroupBy);
    }
    for text in &args.agg {
        let (column, aggregate) = parse_aggregate(text)?;
        query = query.aggregate(column, aggregate);
    }
    Ok(query)
}

/// Runs a `tabular` command.
pub async fn tabular(
    client: &Client,
    command: TabularCommand,
    output: &Output,
) -> Result<(), CliError> {
    match command {
        TabularCommand::Info { rid } => {
            let info = client
                .tabular_resource(&rid)?
                .info()
                .await
                .map_err(rows_error)?;
            output.print_one(Record::from_serialize(&info)?, None).await
        }
        TabularCommand::Profile { rid } => {
            let profile = client
                .tabular_resource(&rid)?
                .profile()
                .await
                .map_err(rows_error)?;
            let indexes = profile.indexes.unwrap_or_default();
            let rows = profile
                .columns
                .into_iter()
                .map(|column| {
                    let indexed = indexes.contains(&column.name);
                    Record::from_pairs([
                        ("name", Value::from(column.name)),
                        ("python_type", column.python_type.into()),
                        ("format", column.format.into()),
                        ("indexed", indexed.into()),
                    ])
                })
                .collect();
            output.print(rows, None).await
        }
        TabularCommand::Query {
            rid,
            query,
            groups,
            tabular,
            rows,
        } => {
            let built = with_query_args(client.tabular_resource(&rid)?, &query)?;
            let built = with_groups(built, &groups)?;
            let built = with_tabular_args(built, &tabular)?;
            print_rows(built, &rows, output).await
        }
        TabularCommand::Export {
            rid,
            file,
            format,
            query,
            groups,
            columns,
            export: how,
        } => {
            let format = export_format(&file, format, true)?;
            let built = with_query_args(client.tabular_resource(&rid)?, &query)?;
            let built = with_groups(built, &groups)?;
            let built = with_tabular_args(
                built,
                &TabularArgs {
                    columns,
                    ..TabularArgs::default()
                },
            )?;
            export(built, true, format, &file, &how, output).await
        }
    }
}

/// Runs a `metrics` command.
pub async fn metrics(
    client: &Client,
    command: MetricsCommand,
    output: &Output,
) -> Result<(), CliError> {
    match command {
        MetricsCommand::Query { model, query, rows } => {
            let built = with_query_args(client.metrics_model(&model)?, &query)?;
            print_rows(built, &rows, output).await
        }
        MetricsCommand::Export {
            model,
            file,
            query,
            export: how,
        } => {
            let format = export_format(&file, None, false)?;
            let built = with_query_args(client.metrics_model(&model)?, &query)?;
            export(built, false, format, &file, &how, output).await
        }
    }
}

/// The format of an export: `--format`, else the file's extension (`.csv`,
/// `.json`, `.parquet`; none is CSV). Any other extension, and a format the
/// API cannot export (Metrics: CSV only), is refused before any request.
fn export_format(
    file: &Path,
    flag: Option<FileFormat>,
    tabular: bool,
) -> Result<ExportFormat, CliError> {
    let extension = file
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let format = match (flag, extension.as_deref()) {
        (Some(FileFormat::Json), _) => ExportFormat::Json,
        (Some(FileFormat::Csv), _) => ExportFormat::Csv,
        (Some(FileFormat::Parquet), _) => ExportFormat::Parquet,
        (None, None) => ExportFormat::Csv,
        (None, Some(extension)) => ExportFormat::parse(extension).ok_or_else(|| {
            let formats = if tabular {
                "CSV, JSON or Parquet: name the file .csv, .json or .parquet, or give --format"
            } else {
                "CSV: name the file .csv"
            };
            CliError::usage(format!(
                "`{}`: the export writes no `.{extension}` files",
                file.display()
            ))
            .with_hint(format!("it writes {formats}"))
        })?,
    };
    if !tabular && format != ExportFormat::Csv {
        return Err(CliError::usage(format!(
            "`{}`: the Metrics API exports CSV only, not {}",
            file.display(),
            format.name()
        ))
        .with_hint("name the file .csv (`datagouv tabular export` writes JSON and Parquet)"));
    }
    Ok(format)
}

/// The fields of the summary an export prints.
const EXPORT_SUMMARY: [&str; 9] = [
    "file",
    "rows",
    "bytes",
    "windows",
    "windows_requested",
    "windows_retried",
    "resumed_from_window",
    "restarted",
    "unreadable_values",
];

/// Prints the rows of a query, at most `--limit`. Every row of a Tabular
/// query (`--all` without `--page-size`) is read through the export (a
/// request per 50,000 rows, not per 50). Nothing is printed before the
/// first answer is in, and `--fields` must name columns of the rows.
async fn print_rows(query: Query, args: &RowsArgs, output: &Output) -> Result<(), CliError> {
    let max = args.limit.max();
    let page_size = args
        .page_size
        .unwrap_or_else(|| max.map_or(50, |m| m.clamp(1, 50) as u32));
    let query = query.page_size(page_size);
    // Refuse what cannot be sent before printing anything.
    query.query_string(Some(1))?;
    let exported = max.is_none() && args.page_size.is_none() && query.is_tabular();
    let rows = if exported {
        exported_rows(query)
    } else {
        query
            .rows::<Record>()
            .take(max.unwrap_or(usize::MAX))
            .map_err(rows_error)
            .boxed()
    };
    let mut rows = rows.peekable();
    match std::pin::Pin::new(&mut rows).peek().await {
        Some(Err(_)) => {
            return Err(rows
                .next()
                .await
                .expect("peeked")
                .expect_err("peeked an error"));
        }
        Some(Ok(first)) => check_fields(output.fields(), first)?,
        None => {}
    }
    output.print_stream(rows, None).await
}

/// Refuses `--fields` that name no column of the rows (`first` is one).
fn check_fields(fields: &[String], first: &Record) -> Result<(), CliError> {
    let columns: Vec<&str> = first.keys().collect();
    match crate::output::unknown_field(fields, &columns) {
        Some(field) => Err(CliError::usage(format!(
            "--fields names `{field}`, which is no column of these rows; the columns are: {}",
            columns.join(", ")
        ))
        .with_hint("--fields takes column names (comma-separated); `datagouv tabular profile <rid>` lists them")),
        None => Ok(()),
    }
}

/// Every row of a Tabular query, read from its JSON export as it streams
/// (the export runs on its own task; its error ends the rows).
fn exported_rows(query: Query) -> futures::stream::BoxStream<'static, Result<Record, CliError>> {
    use tokio::io::AsyncReadExt;
    let (mut writer, reader) = tokio::io::duplex(256 * 1024);
    let task = tokio::spawn(async move {
        let result = query
            .export(ExportFormat::Json, &mut writer, ExportOptions::default())
            .await;
        drop(writer);
        result
    });
    let state = (
        reader,
        JsonItems::default(),
        Some(task),
        vec![0u8; 64 * 1024],
    );
    futures::stream::unfold(
        state,
        |(mut reader, mut items, mut task, mut buffer)| async move {
            loop {
                if let Some(item) = items.ready.pop_front() {
                    let row = std::str::from_utf8(&item)
                        .map_err(|e| {
                            CliError::other(format!("the export sent a row that is not UTF-8: {e}"))
                        })
                        .and_then(Record::from_json);
                    return Some((row, (reader, items, task, buffer)));
                }
                let read = match reader.read(&mut buffer).await {
                    Ok(read) => read,
                    Err(error) => {
                        let error = CliError::other(format!("cannot read the export: {error}"));
                        return Some((Err(error), (reader, items, None, buffer)));
                    }
                };
                if read > 0 {
                    items.push(&buffer[..read]);
                    continue;
                }
                // The end: the export's own outcome.
                let outcome = match task.take()?.await {
                    Ok(Ok(_)) => return None,
                    Ok(Err(error)) => rows_error(error),
                    Err(join) => CliError::other(format!("the export stopped: {join}")),
                };
                return Some((Err(outcome), (reader, items, None, buffer)));
            }
        },
    )
    .boxed()
}

/// Splits a JSON array, as it streams, into the text of its items.
#[derive(Default)]
struct JsonItems {
    /// The text of the item being read.
    item: Vec<u8>,
    /// Items complete, not yet taken.
    ready: std::collections::VecDeque<Vec<u8>>,
    /// Saw the array's `[`.
    opened: bool,
    depth: u32,
    in_string: bool,
    escaped: bool,
}

impl JsonItems {
    fn push(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if self.depth == 0 {
                match byte {
                    b'[' if !self.opened => self.opened = true,
                    b'{' | b'[' => {
                        self.depth = 1;
                        self.item.push(byte);
                    }
                    // `,`, blanks and the closing `]` between items.
                    _ => {}
                }
                continue;
            }
            self.item.push(byte);
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if byte == b'\\' {
                    self.escaped = true;
                } else if byte == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match byte {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        self.ready.push_back(std::mem::take(&mut self.item));
                    }
                }
                _ => {}
            }
        }
    }
}

/// Exports a query to a file, with a progress bar on a terminal.
async fn export(
    query: Query,
    tabular: bool,
    format: ExportFormat,
    file: &Path,
    how: &ExportArgs,
    output: &Output,
) -> Result<(), CliError> {
    query.query_string(None)?;
    if let Some(field) = output
        .fields()
        .iter()
        .find(|f| !EXPORT_SUMMARY.contains(&f.split('.').next().unwrap_or_default()))
    {
        let columns = if tabular {
            "; to export only some columns use --columns A,B"
        } else {
            ""
        };
        return Err(CliError::usage(format!(
            "--fields picks fields of the summary an export prints ({}), and `{field}` is none of them",
            EXPORT_SUMMARY.join(", ")
        ))
        .with_hint(format!("drop --fields{columns}")));
    }
    let bar = progress_bar();
    let shown = bar.clone();
    let options = ExportOptions::default()
        .parallel(usize::from(how.parallel))
        .resume(!how.restart)
        .on_progress(move |progress| {
            if let Some(total) = progress.total
                && shown.length() != Some(total)
            {
                shown.set_length(total);
            }
            shown.set_position(progress.rows);
            shown.set_message(HumanBytes(progress.bytes).to_string());
        });
    // `-` is standard output (not resumable, no summary); a folder or a
    // missing folder is refused by the SDK before any request.
    if file.as_os_str() == "-" {
        let result = query
            .export(format, &mut tokio::io::stdout(), options)
            .await;
        bar.finish_and_clear();
        return result.map(|_| ()).map_err(rows_error);
    }
    let result = query.export_to_file(format, file, options).await;
    match &result {
        Ok(_) => bar.finish(),
        Err(_) => bar.abandon(),
    }
    let summary = result.map_err(|error| {
        let error = rows_error(error);
        match datagouv::interrupted_export(file) {
            Some((done, windows)) if error.hint.is_none() => error.with_hint(format!(
                "{done} of {windows} windows are kept beside the file: run the same command again to resume"
            )),
            _ => error,
        }
    })?;
    let unreadable: serde_json::Map<String, Value> = summary
        .unreadable
        .iter()
        .map(|(column, count)| (column.clone(), Value::from(*count)))
        .collect();
    let record = Record::from_pairs([
        ("file", Value::from(file.display().to_string())),
        ("rows", summary.rows.into()),
        ("bytes", summary.bytes.into()),
        ("windows", summary.windows.into()),
        ("windows_requested", summary.windows_requested.into()),
        ("windows_retried", summary.windows_retried.into()),
        ("resumed_from_window", summary.resumed_from.into()),
        ("restarted", summary.restarted.into()),
        ("unreadable_values", Value::Object(unreadable)),
    ]);
    output.print_one(record, None).await
}

/// Rows and bytes written, hidden when stderr is not a terminal.
fn progress_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {elapsed_precise} [{wide_bar}] {human_pos}/{human_len} rows, {msg}, eta {eta}",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar.set_message("counting the rows");
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use datagouv::Op;

    fn describe(filter: &Filter) -> String {
        format!("{}__{}", filter.column(), filter.op().name())
    }

    #[test]
    fn filters_split_at_the_first_equals_and_the_last_double_underscore() {
        let filter = parse_filter("a__b__exact=x=y").unwrap();
        assert_eq!(describe(&filter), "a__b__exact");
        assert_eq!(filter, Filter::new("a__b", Op::Exact, "x=y"));
        assert_eq!(
            parse_filter("code__in=75,69").unwrap(),
            Filter::list("code", Op::In, ["75", "69"])
        );
        assert_eq!(
            parse_filter("nom__isnull").unwrap(),
            Filter::new("nom", Op::IsNull, "")
        );
        assert_eq!(
            parse_filter("nom__exact=").unwrap(),
            Filter::new("nom", Op::Exact, "")
        );
    }

    #[test]
    fn bad_filters_are_usage_errors() {
        for text in [
            "nope",
            "nope=1",
            "__exact=1",
            "a__between=1",
            "a__exact",
            "a__isnull=x",
        ] {
            let error = parse_filter(text).unwrap_err();
            assert_eq!(error.code, crate::error::EXIT_USAGE, "{text}");
            assert!(error.hint.is_some(), "{text}");
        }
    }

    #[test]
    fn groups_nest_and_read_filters_as_filter_does() {
        let condition = parse_condition(
            "or(dep__exact=75, and(montant__greater=1000,statut__isnull), nom__contains=a (b))",
        )
        .unwrap();
        assert_eq!(
            condition,
            Condition::Or(vec![
                Filter::new("dep", Op::Exact, "75").into(),
                Condition::And(vec![
                    Filter::new("montant", Op::Greater, "1000").into(),
                    Filter::new("statut", Op::IsNull, "").into(),
                ]),
                Filter::new("nom", Op::Contains, "a (b)").into(),
            ])
        );
        assert_eq!(
            parse_condition("a__b__exact=x=y").unwrap(),
            Filter::new("a__b", Op::Exact, "x=y").into()
        );
        for bad in [
            "or(a__exact=1",
            "or(a__exact=1))",
            "and()",
            "or(a__exact=1,)",
            "or(nope)",
            "and(a__like=1)",
        ] {
            let error = parse_condition(bad).unwrap_err();
            assert_eq!(error.code, crate::error::EXIT_USAGE, "{bad}");
            assert!(error.hint.is_some(), "{bad}");
        }
        // The real mistake is named: a group word, a list inside a group.
        for (bad, says) in [
            ("xor(a__exact=1)", "`xor(` is not a group"),
            ("OR(a__exact=1)", "`OR(` is not a group"),
            (
                "or(code__in=75,69)",
                "`code__in` cannot stand inside a group",
            ),
            (
                "and(b__exact=1, or(code__notin=1))",
                "`code__notin` cannot stand",
            ),
        ] {
            let error = parse_condition(bad).unwrap_err();
            assert!(error.message.contains(says), "{bad}: {}", error.message);
        }
        // Parentheses in a value or a column name are still a filter.
        assert!(parse_condition("nom__exact=a(b)").is_ok());
        assert!(parse_condition("f(x)__exact=g(y)").is_ok());
    }

    #[test]
    fn export_formats_come_from_the_flag_or_the_extension_or_are_refused() {
        let format = |file: &str, flag, tabular| export_format(Path::new(file), flag, tabular);
        assert_eq!(format("a.CSV", None, true).unwrap(), ExportFormat::Csv);
        assert_eq!(format("a", None, true).unwrap(), ExportFormat::Csv);
        assert_eq!(format("a.json", None, true).unwrap(), ExportFormat::Json);
        assert_eq!(
            format("a.parquet", None, true).unwrap(),
            ExportFormat::Parquet
        );
        assert_eq!(
            format("a.xlsx", Some(FileFormat::Json), true).unwrap(),
            ExportFormat::Json
        );
        assert!(
            format("a.xlsx", None, true)
                .unwrap_err()
                .message
                .contains("no `.xlsx` files")
        );
        for file in ["a.json", "a.parquet"] {
            assert!(
                format(file, None, false)
                    .unwrap_err()
                    .message
                    .contains("CSV only")
            );
        }
    }

    #[test]
    fn json_items_are_split_whatever_the_chunks() {
        let text = br#"[{"a":"}],\"{","b":[1,{"c":2}]},
 {"d":null}]
"#;
        for cut in 0..text.len() {
            let mut items = JsonItems::default();
            items.push(&text[..cut]);
            items.push(&text[cut..]);
            let got: Vec<String> = items
                .ready
                .iter()
                .map(|i| String::from_utf8(i.clone()).unwrap())
                .collect();
            assert_eq!(
                got,
                [r#"{"a":"}],\"{","b":[1,{"c":2}]}"#, r#"{"d":null}"#],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn sorts_and_aggregates_split_at_the_last_colon() {
        assert_eq!(parse_sort("a:b:desc").unwrap(), ("a:b".into(), Order::Desc));
        assert_eq!(parse_sort("score").unwrap(), ("score".into(), Order::Asc));
        assert!(parse_sort("score:").is_err());
        let up = parse_sort("score:up").unwrap_err();
        assert!(
            up.message.contains("`up` is neither asc nor desc"),
            "{}",
            up.message
        );
        assert_eq!(parse_sort("a:b:asc").unwrap(), ("a:b".into(), Order::Asc));
        assert!(parse_sort(":desc").is_err());
        assert_eq!(
            parse_aggregate("score:avg").unwrap(),
            ("score".into(), Aggregate::Avg)
        );
        assert!(parse_aggregate("score").is_err());
        assert!(parse_aggregate("score:median").is_err());
    }
}
