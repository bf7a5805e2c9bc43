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
    while let Some(event) = events.next().await {
        match event {
            SyncEvent::Planned { files } => eprintln!("{files} file(s) in the catalog"),
            SyncEvent::Skipped { file, reason } => eprintln!("  {file}: {reason}"),
            SyncEvent::Downloading { .. } => {}
            SyncEvent::Done {
                file,
                bytes,
                updated,
            } => {
                eprintln!(
                    "  {file}: {} ({bytes} bytes)",
                    if updated { "updated" } else { "new" }
                )
            }
            SyncEvent::Failed { file, error } => eprintln!("  {file}: FAILED: {error}"),
            SyncEvent::Gone { file, deleted } => eprintln!(
                "  {file}: gone from the catalog, {}",
                if deleted {
                    "deleted"
                } else {
                    "kept (--delete removes it)"
                }
            ),
            SyncEvent::Finished(done) => summary = Some(done),
        }
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
