//! `cargo xtask`: project automation for datagouv-rs (see the crate docs).

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

use xtask::{apis::workspace_root, coverage, fetch};

/// Project automation for datagouv-rs.
#[derive(Parser)]
#[command(name = "cargo xtask", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fetch the upstream API documents into `specs/upstream/` and write the
    /// normalised documents the generated crates are built from.
    Fetch {
        /// Fetch from a folder or a base URL holding `main.json`,
        /// `main-v2.json`, `tabular.yaml|json`, `metrics.yaml|json` instead
        /// of production's live URLs. `--from specs/upstream` re-normalises
        /// the committed documents (after editing an overlay).
        #[arg(long, value_name = "DIR|BASE_URL")]
        from: Option<String>,
        /// Write nothing; fail, naming the command to run, if any committed
        /// file differs from what this fetch would write.
        #[arg(long)]
        check: bool,
    },
    /// Print which method serves every upstream operation and every
    /// endpoint of the seed reference; fails if any is not served.
    Coverage {
        /// The seed reference to map.
        #[arg(long, default_value = "../shared/seed-reference.md")]
        seed: PathBuf,
    },
}

fn main() -> Result<()> {
    let root = workspace_root();
    match Cli::parse().command {
        Command::Fetch { from, check } => {
            fetch::run(&root, &fetch::Source::parse(from.as_deref()), check)
        }
        Command::Coverage { seed } => {
            let seed = if seed.is_relative() {
                root.join(seed)
            } else {
                seed
            };
            let (report, ok) = coverage::report(&root, &seed)?;
            print!("{report}");
            anyhow::ensure!(
                ok,
                "some operations or seed endpoints are not served (see NOT COVERED / NOT MAPPED)"
            );
            Ok(())
        }
    }
}
