//! The command line: every command, argument and flag, with its help.

use clap::{ArgMatches, Args, FromArgMatches, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// The help heading of the options every command takes.
const GLOBAL: &str = "Global options";
/// The help heading of the output options.
const OUTPUT: &str = "Output options";

/// Search, inspect and query data.gouv.fr from the command line.
///
/// Output is a table on a terminal and JSON lines when piped; choose with
/// --json, --jsonl, --csv or --table, and pick columns with --fields.
/// Exit codes: 0 success, 1 failure, 2 bad input, 3 not found (404/410),
/// 4 refused (401/403).
#[derive(Debug, Parser)]
#[command(
    name = "datagouv",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: GlobalOptions,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes (they may stand before or after it). Its
/// `Debug` output never shows the API key.
#[derive(Args)]
pub struct GlobalOptions {
    /// Which data.gouv.fr: `prod` (www.data.gouv.fr) or `demo`
    /// (demo.data.gouv.fr; the Tabular and Metrics APIs stay on production).
    #[arg(long, global = true, env = "DATAGOUV_ENV", hide_env_values = true, value_name = "ENV", help_heading = GLOBAL)]
    pub env: Option<String>,

    /// The Main API site root, e.g. https://www.data.gouv.fr (`/api/1` is added).
    #[arg(long, global = true, env = "DATAGOUV_MAIN_URL", hide_env_values = true, value_name = "URL", help_heading = GLOBAL)]
    pub main_url: Option<String>,

    /// The Tabular API root, e.g. https://tabular-api.data.gouv.fr.
    #[arg(long, global = true, env = "DATAGOUV_TABULAR_URL", hide_env_values = true, value_name = "URL", help_heading = GLOBAL)]
    pub tabular_url: Option<String>,

    /// The Metrics API root, e.g. https://metric-api.data.gouv.fr.
    #[arg(long, global = true, env = "DATAGOUV_METRICS_URL", hide_env_values = true, value_name = "URL", help_heading = GLOBAL)]
    pub metrics_url: Option<String>,

    /// The API key (from your data.gouv.fr profile), for writes and private
    /// objects. Prefer the variable or the config file: a flag shows in the
    /// process list and the shell history.
    #[arg(
        long,
        global = true,
        env = "DATAGOUV_API_KEY",
        hide_env_values = true,
        value_name = "KEY",
        help_heading = GLOBAL
    )]
    pub api_key: Option<String>,

    /// The config file [default: $XDG_CONFIG_HOME/datagouv/config.toml, or
    /// ~/.config/datagouv/config.toml]. A flag or variable wins over it.
    #[arg(long, global = true, env = "DATAGOUV_CONFIG", hide_env_values = true, value_name = "FILE", help_heading = GLOBAL)]
    pub config: Option<PathBuf>,

    /// How to print results.
    #[command(flatten)]
    pub output: OutputFlags,

    /// Only these fields, in this order, for tables, CSV and JSON lines:
    /// comma-separated, dotted paths reach inside objects
    /// (`organization.name`) and lists (`resources.title`, `tags.0`).
    #[arg(long, global = true, value_delimiter = ',', value_name = "FIELDS", help_heading = OUTPUT)]
    pub fields: Vec<String>,
}

impl std::fmt::Debug for GlobalOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobalOptions")
            .field("env", &self.env)
            .field("main_url", &self.main_url)
            .field("tabular_url", &self.tabular_url)
            .field("metrics_url", &self.metrics_url)
            .field("api_key", &crate::settings::redacted(&self.api_key))
            .field("config", &self.config)
            .field("output", &self.output)
            .field("fields", &self.fields)
            .finish()
    }
}

/// The output format flags (at most one; checked by `Output::new`, as
/// clap does not check groups of global flags given after a subcommand).
#[derive(Debug, Args, Default)]
pub struct OutputFlags {
    /// One JSON document (a list is one array).
    #[arg(long, global = true, help_heading = OUTPUT)]
    pub json: bool,

    /// One JSON object per line (the default when stdout is not a terminal).
    #[arg(long, global = true, help_heading = OUTPUT)]
    pub jsonl: bool,

    /// CSV with a header line.
    #[arg(long, global = true, help_heading = OUTPUT)]
    pub csv: bool,

    /// A table (the default on a terminal).
    #[arg(long, global = true, help_heading = OUTPUT)]
    pub table: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Datasets of the catalog.
    #[command(subcommand)]
    Datasets(DatasetsCommand),
    /// Resources (files) of a dataset.
    #[command(subcommand)]
    Resources(ResourcesCommand),
    /// Organizations (publishers).
    #[command(subcommand)]
    Organizations(SimpleCommand),
    /// Reuses (applications, articles, visualisations built on datasets).
    #[command(subcommand)]
    Reuses(SimpleCommand),
    /// Dataservices (APIs published on data.gouv.fr).
    #[command(subcommand)]
    Dataservices(SimpleCommand),
    /// Users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// The user the API key belongs to.
    Me,
    /// Discussions about datasets, reuses and dataservices.
    #[command(subcommand)]
    Discussions(DiscussionsCommand),
    /// Rows of a CSV/XLS resource (Tabular API).
    #[command(subcommand)]
    Tabular(TabularCommand),
    /// Monthly usage figures (Metrics API).
    #[command(subcommand)]
    Metrics(MetricsCommand),
    /// Any Main API request, JSON in and out (the escape hatch).
    #[command(subcommand)]
    Api(ApiCommand),
    /// Which servers and key the other commands use.
    #[command(subcommand)]
    Auth(AuthCommand),
    /// The config file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Bring a local mirror of datasets up to date: fetch only what changed,
    /// continue interrupted files, verify every file.
    Sync(SyncArgs),
    /// Serve the SDK to AI assistants as a Model Context Protocol server
    /// (stdio by default): the official data.gouv.fr MCP tools and more.
    Mcp(McpArgs),
    /// SQL over any resource: tables are resource ids in double quotes
    /// (`FROM "0a1b…"`) and metrics models (`FROM metrics.datasets`);
    /// filters, columns and limits go to the server.
    Sql(SqlArgs),
    /// Topics: thematic collections of datasets, reuses and dataservices.
    #[command(subcommand)]
    Topics(crate::topics::TopicsCommand),
    /// The API tokens of the key's user: list, create, revoke.
    #[command(subcommand)]
    Tokens(crate::tokens::TokensCommand),
    /// The completion script of a shell (bash, zsh, fish, powershell).
    Completions(crate::completions::CompletionsArgs),
    /// The man page (roff), or every command's page into a folder.
    Man(crate::completions::ManArgs),
    // The official `datagouv-cli` 0.4.2 grammar (crate::compat), hidden.
    /// Datasets, in the official datagouv-cli's grammar.
    #[command(subcommand, hide = true)]
    Dataset(crate::compat::DatasetCompat),
    /// Organizations, in the official datagouv-cli's grammar.
    #[command(subcommand, hide = true)]
    Organization(crate::compat::OrganizationCompat),
    /// Resources, in the official datagouv-cli's grammar.
    #[command(subcommand, hide = true)]
    Resource(crate::compat::ResourceCompat),
    /// Topics, in the official datagouv-cli's grammar.
    #[command(subcommand, hide = true)]
    Topic(crate::compat::TopicCompat),
    /// Store the environment and API key in the config file (asked for).
    #[command(hide = true)]
    Setup(crate::compat::SetupArgs),
    /// Delete the config file.
    #[command(hide = true)]
    DeleteConfig,
}

/// `sync …`
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Datasets to mirror (ids or slugs), then the mirror's directory.
    #[arg(value_name = "DATASET... DIR", num_args = 1.., required = true)]
    pub targets: Vec<String>,
    /// Also every dataset of this organization (id or slug; repeatable).
    #[arg(long, value_name = "ORG")]
    pub organization: Vec<String>,
    /// Also the datasets this search finds.
    #[arg(long, short, value_name = "TEXT")]
    pub query: Option<String>,
    /// Delete the files of resources gone from the catalog (else kept and listed).
    #[arg(long)]
    pub delete: bool,
    /// Print the plan; touch nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Re-hash the local copies of hosted files instead of trusting the manifest.
    #[arg(long)]
    pub verify: bool,
    /// Files fetched at a time (at most 2 per host).
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
}

/// `mcp …`
#[derive(Debug, Args)]
pub struct McpArgs {
    /// Serve streamable HTTP at http://ADDR/mcp instead of stdio, e.g.
    /// `127.0.0.1:8000` (port 0 picks a free one; the address is printed).
    #[arg(long, value_name = "ADDR")]
    pub http: Option<std::net::SocketAddr>,
    /// Accept an --http address other than this machine's. No
    /// authentication is added: anyone who reaches the port can use the tools.
    #[arg(long)]
    pub allow_remote: bool,
    /// Let the tools read and write files below this directory
    /// (`export_resource_data`, `upload_resource`).
    #[arg(long, value_name = "DIR")]
    pub allow_files: Option<std::path::PathBuf>,
    /// Offer the write tools (`create_dataset`, `update_dataset`,
    /// `upload_resource`); they also need an API key.
    #[arg(long)]
    pub allow_writes: bool,
    /// Let the tools fetch catalog-supplied URLs (a dataservice's OpenAPI
    /// document) on loopback, private and link-local addresses, for a
    /// server inside an intranet. Without it those are refused.
    #[arg(long)]
    pub allow_private_urls: bool,
    /// Over --http, keep a session per client instead of answering each
    /// request on its own (no tool needs one; stateless survives restarts
    /// and load balancers).
    #[arg(long, requires = "http")]
    pub http_sessions: bool,
}

/// The search text of every `list`.
#[derive(Debug, Args, Clone, Default)]
pub struct ListQuery {
    /// Words to search for.
    #[arg(long, short, value_name = "TEXT")]
    pub query: Option<String>,
}

/// How many items a list prints, and how many it asks for at a time: the
/// same flags on every `list` and on `tabular query` and `metrics query`.
#[derive(Debug, Args, Clone, Copy)]
pub struct ListLimit {
    /// At most this many items.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = parse_limit)]
    pub limit: u64,

    /// Every item, however many (overrides --limit).
    #[arg(long)]
    pub all: bool,

    /// Items per request, 1 to 1000; the Tabular and Metrics APIs serve 1
    /// to 50 rows [default: --limit, up to 100 items or 50 rows].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub page_size: Option<u32>,
}

/// Reads `--limit`: a whole number from 1; 0 is refused with what to write
/// instead.
fn parse_limit(text: &str) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(0) => Err("0 items is no list: give 1 or more, or --all for every item".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!(
            "`{text}` is not a number of items: give a whole number from 1, or --all for every item"
        )),
    }
}

impl ListLimit {
    /// The most items to print (`None`: all).
    pub fn max(self) -> Option<usize> {
        (!self.all).then(|| usize::try_from(self.limit).unwrap_or(usize::MAX))
    }
}

/// `datasets …`
#[derive(Debug, Subcommand)]
pub enum DatasetsCommand {
    /// List the datasets, or search them with --query.
    #[command(visible_alias = "search")]
    List {
        /// Words to search for.
        #[command(flatten)]
        query: ListQuery,
        /// The words to search for as `datasets search WORDS` took them
        /// (before --query; kept working, hidden from the help).
        #[arg(value_name = "QUERY", hide = true, conflicts_with = "query")]
        words: Option<String>,
        /// Only the datasets of this organization (its id or slug).
        #[arg(long, value_name = "ORG")]
        organization: Option<String>,
        /// Only the datasets with this tag (repeat for several: all must match).
        #[arg(long, value_name = "TAG")]
        tag: Vec<String>,
        /// How many.
        #[command(flatten)]
        limit: ListLimit,
    },
    /// One dataset.
    Show {
        /// Its id or slug.
        dataset: String,
    },
    /// Create a private draft dataset (needs an API key); publish it with
    /// `datasets update <id> --set private=false` once its resources are in.
    Create {
        /// The title.
        title: String,
        /// The description (Markdown).
        #[arg(long, short)]
        description: String,
        /// Publish for this organization (its id or slug) instead of the key's user.
        #[arg(long, value_name = "ORG")]
        organization: Option<String>,
        /// A tag, 3 to 96 characters (repeat for several).
        #[arg(long, value_name = "TAG")]
        tag: Vec<String>,
        /// A license id (`lov2`, `odc-odbl`, …).
        #[arg(long)]
        license: Option<String>,
        /// An update frequency id (`monthly`, `irregular`, …).
        #[arg(long)]
        frequency: Option<String>,
    },
    /// Change fields of a dataset (needs an API key).
    Update {
        /// Its id or slug.
        dataset: String,
        /// `field=value` to set (a field of the dataset model; others are
        /// refused). The value is read as JSON when that fits the field
        /// (`private=false`, `tags=["a","b"]`, `acronym=null` clears it),
        /// else as text (`title=2024`). Fields not named are kept. Repeatable.
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        set: Vec<String>,
    },
    /// Delete a dataset (needs an API key).
    Delete {
        /// Its id or slug.
        dataset: String,
    },
}

/// `resources …`
#[derive(Debug, Subcommand)]
pub enum ResourcesCommand {
    /// The resources of a dataset.
    List {
        /// The dataset's id or slug.
        dataset: String,
        /// Words to search for (in the resources' titles).
        #[command(flatten)]
        query: ListQuery,
        /// How many.
        #[command(flatten)]
        limit: ListLimit,
    },
    /// One resource, by its id alone or with its dataset's.
    Show {
        /// The resource's id (a UUID), after its dataset's id or slug if
        /// known (else the dataset is found with one request).
        #[arg(value_name = "[DATASET] RID", num_args = 1..=2, required = true)]
        ids: Vec<String>,
    },
    /// Change fields of a resource (needs an API key).
    Update {
        /// The resource's id, after its dataset's id or slug if known.
        #[arg(value_name = "[DATASET] RID", num_args = 1..=2, required = true)]
        ids: Vec<String>,
        /// `field=value` to set (a field of the resource model: title,
        /// description, type, format, url, schema, extras, …), read as JSON
        /// when that fits the field, else as text. Repeatable.
        #[arg(long = "set", value_name = "FIELD=VALUE")]
        set: Vec<String>,
    },
    /// Delete a resource (needs an API key).
    Delete {
        /// The resource's id, after its dataset's id or slug if known.
        #[arg(value_name = "[DATASET] RID", num_args = 1..=2, required = true)]
        ids: Vec<String>,
    },
    /// Download a resource's latest file, verified against the catalog's
    /// checksum; the file appears only when complete and verified. An
    /// interrupted download is kept beside it (`.NAME.partial`) and the same
    /// command continues it.
    Download {
        /// The resource's id (a UUID).
        rid: String,
        /// Where to write it: a file, a folder (existing, or ending with
        /// `/`: the file keeps its own name inside it), or `-` for standard
        /// output.
        file: std::path::PathBuf,
    },
    /// Upload a file as a new resource of a dataset, or as the new file of
    /// one (needs an API key). Large files go in parts.
    Upload {
        /// The dataset's id or slug.
        dataset: String,
        /// The file to upload.
        file: std::path::PathBuf,
        /// Replace the file of this resource instead of adding one.
        #[arg(long, value_name = "RID")]
        replace: Option<String>,
        /// Bytes per part (default 8 MiB).
        #[arg(long, value_name = "BYTES")]
        chunk_size: Option<u64>,
    },
}

/// `list` and `show` of organizations, reuses and dataservices.
#[derive(Debug, Subcommand)]
pub enum SimpleCommand {
    /// List them, newest first as the server orders them.
    List {
        /// Words to search for.
        #[command(flatten)]
        query: ListQuery,
        /// How many.
        #[command(flatten)]
        limit: ListLimit,
    },
    /// One of them.
    Show {
        /// Its id or slug.
        id: String,
    },
}

/// `users …`
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// One user.
    Show {
        /// The user's id or slug.
        id: String,
    },
}

/// `discussions …`
#[derive(Debug, Subcommand)]
pub enum DiscussionsCommand {
    /// List discussions, newest first.
    List {
        /// Words to search for.
        #[command(flatten)]
        query: ListQuery,
        /// Only those about this object (a dataset, reuse or dataservice id).
        #[arg(long = "for", value_name = "ID")]
        for_: Option<String>,
        /// How many.
        #[command(flatten)]
        limit: ListLimit,
    },
    /// One discussion, with its messages.
    Show {
        /// The discussion's id.
        id: String,
    },
}

/// Filters, sorts and aggregations of a Tabular or Metrics query.
#[derive(Debug, Args, Default)]
pub struct QueryArgs {
    /// A condition `column__operator=value` (repeatable; all must hold).
    /// Operators: exact, differs, contains, notcontains, in, notin (comma
    /// list), less, greater (inclusive), strictly_less, strictly_greater,
    /// isnull, isnotnull (no value).
    #[arg(long, value_name = "COL__OP=VALUE")]
    pub filter: Vec<String>,

    /// Sort by a column, `column:asc` or `column:desc` (repeatable, in order).
    #[arg(long, value_name = "COL:ORDER")]
    pub sort: Vec<String>,
}

/// `or`/`and` groups of a Tabular query (the Metrics API has none).
#[derive(Debug, Args, Default)]
pub struct GroupArgs {
    /// An `or`/`and` group of conditions (repeatable; all must hold), e.g.
    /// --where 'or(dep__exact=75, and(montant__greater=1000, statut__isnull))'.
    /// Items are `column__operator=value` as in --filter, or nested
    /// `or(…)`/`and(…)`, separated by commas; spaces around items are
    /// ignored. Inside a group the server takes no list operator (in,
    /// notin), no comma or double quote in a value, and no `.`, `(`, `)` in
    /// a contains/notcontains value; such a group is refused before sending.
    #[arg(long = "where", value_name = "GROUP")]
    pub groups: Vec<String>,
}

/// How an export runs.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Window requests in flight, 1 to 4 (exports over 50,000 rows are
    /// fetched in windows; the file is written in order either way).
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=4))]
    pub parallel: u8,

    /// Start over instead of resuming an interrupted export of the same
    /// query to the same file.
    #[arg(long)]
    pub restart: bool,
}

/// Column selection and aggregation (Tabular API only).
#[derive(Debug, Args, Default)]
pub struct TabularArgs {
    /// Only these columns (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "A,B")]
    pub columns: Vec<String>,

    /// Group by this column (repeatable; with --agg).
    #[arg(long, value_name = "COL")]
    pub groupby: Vec<String>,

    /// An aggregate `column:avg|sum|min|max|count` (repeatable). The server
    /// allows it only on the indexed columns of some resources.
    #[arg(long, value_name = "COL:FUNC")]
    pub agg: Vec<String>,
}

/// Paging of a query's rows: the flags of [`ListLimit`], as every list
/// takes them (`page_size` repeats `limit.page_size`).
#[derive(Debug, Clone, Copy)]
pub struct RowsArgs {
    /// Rows per request (`--page-size`).
    pub page_size: Option<u32>,

    /// How many rows.
    pub limit: ListLimit,
}

impl FromArgMatches for RowsArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let limit = ListLimit::from_arg_matches(matches)?;
        Ok(RowsArgs {
            page_size: limit.page_size,
            limit,
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = RowsArgs::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for RowsArgs {
    fn augment_args(command: clap::Command) -> clap::Command {
        ListLimit::augment_args(command)
    }

    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        ListLimit::augment_args_for_update(command)
    }
}

/// `tabular …`
#[derive(Debug, Subcommand)]
pub enum TabularCommand {
    /// The resource's metadata: table, dates, links to its endpoints.
    Info {
        /// The resource's id (a UUID).
        rid: String,
    },
    /// The resource's columns with their detected types.
    Profile {
        /// The resource's id (a UUID).
        rid: String,
    },
    /// Rows of the resource.
    Query {
        /// The resource's id (a UUID).
        rid: String,
        /// Filters and sorts.
        #[command(flatten)]
        query: QueryArgs,
        /// Or/and groups.
        #[command(flatten)]
        groups: GroupArgs,
        /// Columns and aggregates.
        #[command(flatten)]
        tabular: TabularArgs,
        /// Paging.
        #[command(flatten)]
        rows: RowsArgs,
    },
    /// Every matching row to a file, whatever the size, sorted as asked,
    /// with a progress bar. Written under a hidden partial name and renamed
    /// when complete; an interrupted export resumes when run again.
    Export {
        /// The resource's id (a UUID).
        rid: String,
        /// The file to write.
        file: PathBuf,
        /// The file format [default: from the file's extension `.json`,
        /// `.parquet`, else csv].
        #[arg(long, value_enum)]
        format: Option<FileFormat>,
        /// Filters and sorts.
        #[command(flatten)]
        query: QueryArgs,
        /// Or/and groups.
        #[command(flatten)]
        groups: GroupArgs,
        /// Only these columns (comma-separated).
        #[arg(long, value_delimiter = ',', value_name = "A,B")]
        columns: Vec<String>,
        /// Windows and resumption.
        #[command(flatten)]
        export: ExportArgs,
    },
}

/// `sql …`
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// The query, e.g. `SELECT region, SUM(montant) FROM "0a1b…" GROUP BY region`
    /// (read-only: no DDL, DML or SET).
    pub query: String,
    /// Write the rows to this file instead (`.parquet`, `.csv`, `.json`),
    /// streamed, complete or not at all.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The file format [default: from the file's extension].
    #[arg(long, value_enum, requires = "output")]
    pub format: Option<FileFormat>,
    /// Print the plan (which source each table reads, what went to the
    /// server) instead of running the query.
    #[arg(long)]
    pub explain: bool,
    /// Export windows fetched at once, 1 to 4.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub parallel: usize,
    /// Where downloaded resource files are cached [default: the user's
    /// cache folder, datagouv/sql].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

/// The format of an exported file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FileFormat {
    /// CSV, one header line.
    Csv,
    /// One JSON array of row objects.
    Json,
    /// Parquet, typed from the resource's profile (Tabular API).
    Parquet,
}

/// `metrics …`
#[derive(Debug, Subcommand)]
pub enum MetricsCommand {
    /// Rows of a metrics model: site, datasets, organizations, reuses,
    /// resources, dataservices, or their `_total` tables.
    Query {
        /// The model.
        model: String,
        /// Filters (operators exact, contains, less, greater) and sorts.
        #[command(flatten)]
        query: QueryArgs,
        /// Paging.
        #[command(flatten)]
        rows: RowsArgs,
    },
    /// Every matching row of a model to a CSV file, with a progress bar.
    Export {
        /// The model.
        model: String,
        /// The CSV file to write.
        file: PathBuf,
        /// Filters and sorts.
        #[command(flatten)]
        query: QueryArgs,
        /// Windows and resumption.
        #[command(flatten)]
        export: ExportArgs,
    },
}

/// `api …`
#[derive(Debug, Subcommand)]
pub enum ApiCommand {
    /// GET a path below /api/1 (e.g. `/site/`).
    Get(ApiArgs),
    /// POST a JSON body to a path below /api/1.
    Post(ApiArgs),
    /// PUT a JSON body to a path below /api/1.
    Put(ApiArgs),
    /// PATCH a path below /api/1 with a JSON body.
    Patch(ApiArgs),
    /// DELETE a path below /api/1.
    Delete(ApiArgs),
}

/// A raw request.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The path below /api/1, with its query string (`/datasets/?tag=x`).
    pub path: String,
    /// The JSON body: the text itself, `@file` to read a file, `@-` for stdin.
    #[arg(long, short, value_name = "JSON|@FILE")]
    pub data: Option<String>,
}

/// `auth …`
#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// The environment, each base URL, and whether a key is set — with
    /// where each came from (flag, variable, config file, default). Never
    /// the key itself. With a key, asks the server which token it is: its
    /// name and prefix, scopes, expiry and last use.
    Status {
        /// Ask the server nothing (the token's rows are left out).
        #[arg(long)]
        offline: bool,
    },
}

/// `config …`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Write the config file (readable by you only) with the settings given
    /// now by flags, variables or the current file.
    Init {
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
