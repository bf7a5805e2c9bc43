//! `datagouv sync`: the SDK's incremental mirror, one line per event on
//! stderr and a summary; exit 1 when any file failed (the others complete).

use datagouv::{Client, SyncEvent, SyncPlan};
use futures::StreamExt;

use crate::{cli::SyncArgs, error::CliError};

/// Runs one sync.
pub async fn run(client: &Client, args: SyncArgs) -> Result<(), CliError> {
    let mut targets = args.targets;
    let dir = targets.pop().expect("clap requires one value at least");
    if targets.is_empty() && args.organization.is_empty() && args.query.is_none() {
        return Err(CliError::usage(format!(
            "nothing to mirror into {dir}: name datasets before the directory, or --organization, or --query"
        )));
    }
    let mut plan = SyncPlan::new(&dir)
        .delete(args.delete)
        .dry_run(args.dry_run)
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
    let mut bars = console::Term::stderr().is_term().then(Bars::default);
    while let Some(event) = events.next().await {
        if let Some(bars) = bars.as_mut() {
            bars.show(&event);
        } else {
            print_line(&event);
        }
        if let SyncEvent::Finished(done) = event {
            summary = Some(done);
        }
    }
    if let Some(bars) = bars {
        bars.overall.finish();
    }
    let summary = summary.unwrap_or_default();
    println!(
        "new {}, updated {}, unchanged {}, deleted {}, gone {}, failed {}, {} bytes",
        summary.new,
        summary.updated,
        summary.unchanged,
        summary.deleted,
        summary.gone,
        summary.failed,
        summary.bytes
    );
    if summary.failed > 0 {
        return Err(CliError::other(format!(
            "{} file(s) failed; the others are complete",
            summary.failed
        )));
    }
    Ok(())
}

/// One line per event (when stderr is not a terminal).
fn print_line(event: &SyncEvent) {
    match event {
        SyncEvent::Planned { files } => eprintln!("{files} file(s) in the catalog"),
        SyncEvent::Skipped { file, reason } => eprintln!("  {file}: {reason}"),
        SyncEvent::Downloading { .. } | SyncEvent::Finished(_) => {}
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
            "  {file}: gone from the catalog, {}",
            if *deleted {
                "deleted"
            } else {
                "kept (--delete removes it)"
            }
        ),
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
            SyncEvent::Finished(_) => {}
        }
    }
}
