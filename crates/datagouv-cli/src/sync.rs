//! `datagouv sync`: the SDK's incremental mirror, one line per event on
//! stderr and a summary (or JSON: `--json`, `--jsonl`); exit 1 when any
//! file failed (the others complete), the error's own code when the sync
//! could not start (3 for a dataset or organization not found).

use datagouv::{Client, SyncEvent, SyncPlan, SyncSummary};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::{
    cli::SyncArgs,
    error::CliError,
    output::{Format, Output},
};

/// Runs one sync. Text by default (events on stderr, the summary on
/// stdout); `--jsonl`: one JSON object per event on stdout, the summary
/// last; `--json`: one JSON document at the end, the summary and every
/// file's outcome. A sync that cannot start (a dataset or organization not
/// found, a damaged manifest) is an error with its exit code.
pub async fn run(client: &Client, args: SyncArgs, output: &Output) -> Result<(), CliError> {
    let mut targets = args.targets;
    let dir = targets.pop().expect("clap requires one value at least");
    if targets.is_empty() && args.organization.is_empty() && args.query.is_none() {
        return Err(CliError::usage(format!(
            "nothing to mirror into {dir}: name datasets before the directory, or --organization, or --query"
        )));
    }
    let format = output.defaulting_to(Format::Table).format();
    if format == Format::Csv {
        return Err(
            CliError::usage("sync prints text, --json or --jsonl, not CSV")
                .with_hint("use --jsonl for one JSON object per file"),
        );
    }
    let dry_run = args.dry_run;
    let mut plan = SyncPlan::new(&dir)
        .delete(args.delete)
        .dry_run(dry_run)
        .verify(args.verify)
        .jobs(usize::from(args.jobs));
    for dataset in targets {
        plan = plan.dataset(dataset);
    }
    for organization in args.organization {
        plan = plan.organization(organization);
    }
    if let Some(query) = args.query {
        plan = plan.query(query);
    }
    let mut events = client.sync(plan);
    let mut summary = None;
    let mut aborted = None;
    let mut files = Vec::new();
    let text = format == Format::Table;
    let mut bars = (text && console::Term::stderr().is_term()).then(Bars::default);
    while let Some(event) = events.next().await {
        match (&event, format) {
            (SyncEvent::Aborted(abort), _) => aborted = Some(abort.clone()),
            (_, Format::Table) => match bars.as_mut() {
                Some(bars) => bars.show(&event),
                None => print_line(&event),
            },
            (_, Format::Jsonl) => {
                if let Some(value) = event_json(&event, dry_run) {
                    println!("{value}");
                }
            }
            _ => {
                if !matches!(event, SyncEvent::Planned { .. } | SyncEvent::Finished(_))
                    && let Some(value) = event_json(&event, dry_run)
                {
                    files.push(value);
                }
            }
        }
        if let SyncEvent::Finished(done) = event {
            summary = Some(done);
        }
    }
    if let Some(bars) = bars {
        bars.overall.finish();
    }
    drop(events);
    if let Some(abort) = aborted {
        let mut error = match abort.into_error() {
            Ok(error) => CliError::from(error),
            Err(abort) => CliError::other(abort),
        };
        error.message = format!("nothing was synced: {}", error.message);
        return Err(error);
    }
    let summary = summary.unwrap_or_default();
    match format {
        Format::Json => {
            let mut document = summary_json(&summary, dry_run);
            document["files"] = Value::Array(files);
            println!(
                "{}",
                serde_json::to_string_pretty(&document).expect("JSON values serialise")
            );
        }
        Format::Jsonl => {}
        _ => println!(
            "{}new {}, updated {}, unchanged {}, deleted {}, gone {}, failed {}, {} bytes{}",
            if dry_run {
                "dry run, nothing changed: "
            } else {
                ""
            },
            summary.new,
            summary.updated,
            summary.unchanged,
            summary.deleted,
            summary.gone,
            summary.failed,
            summary.bytes,
            if dry_run {
                format!(", to ask the host {}", summary.to_check)
            } else {
                String::new()
            }
        ),
    }
    if summary.failed > 0 {
        return Err(CliError::other(format!(
            "{} file(s) failed; the others are complete",
            summary.failed
        )));
    }
    Ok(())
}

/// The summary as JSON (`--json`, and the last line of `--jsonl`).
fn summary_json(summary: &SyncSummary, dry_run: bool) -> Value {
    let mut document = json!({ "dry_run": dry_run });
    if let (Some(fields), Value::Object(counts)) = (
        document.as_object_mut(),
        serde_json::to_value(summary).expect("a summary serialises"),
    ) {
        fields.extend(counts);
    }
    document
}

/// One event as JSON (`--jsonl`, and the files of `--json`); none for
/// progress.
fn event_json(event: &SyncEvent, dry_run: bool) -> Option<Value> {
    Some(match event {
        SyncEvent::Planned { files } => json!({"event": "planned", "files": files}),
        SyncEvent::Skipped { file, reason } => {
            json!({"event": "skipped", "file": file, "reason": reason})
        }
        SyncEvent::Downloading { .. } | SyncEvent::Aborted(_) => return None,
        SyncEvent::Done {
            file,
            bytes,
            updated,
        } => json!({
            "event": if *updated { "updated" } else { "new" },
            "file": file,
            "bytes": bytes,
        }),
        SyncEvent::Failed { file, error } => {
            json!({"event": "failed", "file": file, "error": error})
        }
        SyncEvent::Gone { file, deleted } => {
            json!({"event": "gone", "file": file, "deleted": deleted})
        }
        SyncEvent::Finished(summary) => {
            let mut value = summary_json(summary, dry_run);
            value["event"] = "finished".into();
            value
        }
        // Events a later SDK adds are not printed until the CLI knows them.
        _ => return None,
    })
}

/// One line per event (when stderr is not a terminal).
fn print_line(event: &SyncEvent) {
    match event {
        SyncEvent::Planned { files } => eprintln!("{files} file(s) in the catalog"),
        SyncEvent::Skipped { file, reason } => eprintln!("  {file}: {reason}"),
        SyncEvent::Done {
            file,
            bytes,
            updated,
        } => {
            eprintln!(
                "  {file}: {} ({bytes} bytes)",
                if *updated { "updated" } else { "new" }
            )
        }
        SyncEvent::Failed { file, error } => eprintln!("  {file}: FAILED: {error}"),
        SyncEvent::Gone { file, deleted } => eprintln!(
            "  {file}: gone from what is mirrored, {}",
            if *deleted {
                "deleted"
            } else {
                "kept (--delete removes it)"
            }
        ),
        _ => {}
    }
}

/// On a terminal: one bar for the whole sync (files, bytes) and one per
/// file being fetched; skipped, failed and gone files as lines above them.
struct Bars {
    multi: indicatif::MultiProgress,
    overall: indicatif::ProgressBar,
    files: std::collections::HashMap<String, indicatif::ProgressBar>,
    bytes: u64,
}

impl Default for Bars {
    fn default() -> Self {
        Bars {
            multi: indicatif::MultiProgress::new(),
            overall: indicatif::ProgressBar::hidden(),
            files: std::collections::HashMap::new(),
            bytes: 0,
        }
    }
}

impl Bars {
    fn show(&mut self, event: &SyncEvent) {
        use indicatif::{ProgressBar, ProgressStyle};
        match event {
            SyncEvent::Planned { files } => {
                self.overall = self.multi.add(ProgressBar::new(*files as u64));
                self.overall.set_style(
                    ProgressStyle::with_template("{bar:30} {pos}/{len} files, {msg}")
                        .expect("a valid template"),
                );
                self.overall.set_message("0 B");
            }
            SyncEvent::Downloading { file, bytes, total } => {
                let bar = self.files.entry(file.clone()).or_insert_with(|| {
                    let bar = self.multi.add(ProgressBar::new(total.unwrap_or(0)));
                    bar.set_style(
                        ProgressStyle::with_template("  {bar:20} {bytes}/{total_bytes} {msg}")
                            .expect("a valid template"),
                    );
                    bar.set_message(file.clone());
                    bar
                });
                bar.set_position(*bytes);
            }
            SyncEvent::Done { file, bytes, .. } => {
                if let Some(bar) = self.files.remove(file) {
                    bar.finish_and_clear();
                }
                self.bytes += bytes;
                self.overall.inc(1);
                self.overall
                    .set_message(indicatif::HumanBytes(self.bytes).to_string());
            }
            SyncEvent::Failed { file, .. } | SyncEvent::Skipped { file, .. } => {
                if let Some(bar) = self.files.remove(file) {
                    bar.finish_and_clear();
                }
                self.overall.inc(1);
                self.multi.suspend(|| print_line(event));
            }
            SyncEvent::Gone { .. } => {
                self.multi.suspend(|| print_line(event));
            }
            _ => {}
        }
    }
}
