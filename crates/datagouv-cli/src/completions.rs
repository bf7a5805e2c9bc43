//! `datagouv completions SHELL` and `datagouv man`: shell completion
//! scripts (clap_complete) and man pages (clap_mangen), generated from the
//! same command tree as `--help`, so they never drift from it.

use clap::CommandFactory;
use std::{io::Write, path::PathBuf};

use crate::{cli::Cli, error::CliError};

/// `completions …`
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `man …`
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write a page per command (`datagouv.1`, `datagouv-datasets.1`,
    /// `datagouv-datasets-list.1`, …) into this folder instead of printing
    /// the main page.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Prints the completion script of a shell on standard output.
pub fn completions(args: CompletionsArgs) -> Result<(), CliError> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "datagouv", &mut script);
    std::io::stdout().lock().write_all(&script)?;
    Ok(())
}

/// Prints the main man page, or writes every page into `--dir`.
pub fn man(args: ManArgs) -> Result<(), CliError> {
    let command = Cli::command();
    match args.dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .map_err(|e| datagouv::Error::io("create the folder", &dir, e))?;
            clap_mangen::generate_to(command, &dir)
                .map_err(|e| datagouv::Error::io("write the man pages into", &dir, e))?;
            eprintln!("wrote the man pages into {}", dir.display());
            Ok(())
        }
        None => {
            let mut page = Vec::new();
            clap_mangen::Man::new(command).render(&mut page)?;
            std::io::stdout().lock().write_all(&page)?;
            Ok(())
        }
    }
}
