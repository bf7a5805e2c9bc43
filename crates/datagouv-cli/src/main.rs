//! `datagouv`, the command-line tool of the data.gouv.fr SDK: search and
//! inspect the catalog (Main API), query and export the rows of a resource
//! (Tabular API) and the usage figures (Metrics API), or send any request
//! to the Main API (`datagouv api get /path/`).
//!
//! It is a thin layer over the `datagouv` facade: every request goes
//! through one `datagouv::Client` (key handling, retries, pagination,
//! checked queries). This crate only reads the command line and the config
//! file, picks an output format (a table on a terminal, JSON lines when
//! piped; `--json`, `--jsonl`, `--csv`, `--table`, `--fields`) and maps
//! errors to exit codes: 2 bad input, 3 not found, 4 refused (401/403),
//! 1 anything else.

mod catalog;
mod cli;
mod compat;
mod completions;
mod error;
mod mcp;
mod output;
mod query;
mod raw;
mod settings;
mod sql;
mod sync;
mod tokens;
mod topics;

use clap::{CommandFactory, FromArgMatches};

use crate::{
    cli::{Cli, Command},
    error::CliError,
    output::Output,
};

fn main() {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(error) => error.exit(),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            CliError::other(format!("cannot start the async runtime: {error}")).exit();
        }
    };
    if let Err(error) = runtime.block_on(run(cli, &matches)) {
        error.exit();
    }
}

/// Runs one command: settings, client, command, output.
async fn run(cli: Cli, matches: &clap::ArgMatches) -> Result<(), CliError> {
    // `config init` and `setup` write the file that --config names.
    let creating = matches!(cli.command, Command::Config(_) | Command::Setup(_));
    let settings = settings::Settings::resolve(&cli.global, matches, creating)?;
    let output = Output::new(&cli.global.output, &cli.global.fields)?;
    match cli.command {
        Command::Auth(cli::AuthCommand::Status { offline }) => {
            let mut rows = settings.status();
            if let (Some(key), false) = (settings.api_key(), offline) {
                rows.extend(tokens::status_rows(&settings.client()?, key).await);
            }
            output.print(rows, None).await
        }
        Command::Completions(args) => completions::completions(args),
        Command::Man(args) => completions::man(args),
        Command::Setup(args) => {
            // A key typed after `setup --api-key`, not one from the environment.
            let key_flag = (matches.value_source("api_key")
                == Some(clap::parser::ValueSource::CommandLine))
            .then(|| cli.global.api_key.clone())
            .flatten();
            compat::setup(&settings, args, key_flag)
        }
        Command::DeleteConfig => compat::delete_config(&settings),
        Command::Config(cli::ConfigCommand::Init { force }) => {
            let path = settings.write_config_file(force)?;
            eprintln!(
                "wrote {} (readable by you only); `datagouv auth status` shows what it sets",
                path.display()
            );
            Ok(())
        }
        command => {
            let client = settings.client()?;
            let result = match command {
                Command::Api(api) => raw::run(&client, api, &output).await,
                Command::Tabular(tabular) => query::tabular(&client, tabular, &output).await,
                Command::Metrics(metrics) => query::metrics(&client, metrics, &output).await,
                Command::Mcp(args) => mcp::run(client, args).await,
                Command::Sync(args) => sync::run(&client, args, &output).await,
                Command::Sql(args) => sql::run(client, args, &output).await,
                Command::Topics(topics) => topics::run(&client, topics, &output).await,
                Command::Tokens(tokens) => tokens::run(&client, tokens, &output).await,
                Command::Dataset(command) => compat::dataset(&client, command).await,
                Command::Organization(command) => compat::organization(&client, command).await,
                Command::Resource(command) => compat::resource(&client, command).await,
                Command::Topic(command) => compat::topic(&client, command).await,
                other => catalog::run(&client, other, &output).await,
            };
            result.map_err(|error| error.for_key(settings.has_api_key()))
        }
    }
}
