//! The grammar of data.gouv.fr's official command-line tool, `datagouv-cli`
//! 0.4.2 (Python, whose binary is also named `datagouv`), accepted as is:
//! singular nouns (`dataset`, `organization`, `resource`, `topic`) with
//! `display` (attributes, one per line), `get` (the API's JSON as it
//! came), `create`, `update --set k=v`, `delete`, plus `resource create`,
//! `resource download`, `dataset sort-resources`, `setup` and
//! `delete-config`. Each prints what the official tool prints
//! ("Dataset created successfully ✓ id is …"), so scripts written for it
//! keep working; the requests go through the same client as every other
//! command (key handling, retries, typed `--set` values).
//!
//! These commands are hidden from `--help`; the CLI's README maps each to
//! its counterpart in this CLI's own grammar.

use clap::{Args, Subcommand};
use datagouv::{
    Client, DownloadOptions, DownloadSource, ResourceUpload, UploadOptions, UploadSource,
    main_api::{v1::types as v1, v2::types as v2},
};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::io::{BufRead, IsTerminal, Write};

use crate::{
    catalog::{resource_dataset, typed_changes},
    error::CliError,
    settings::Settings,
};

/// The attributes `display` shows of each kind of object (those the
/// official tool shows, in its order).
mod attributes {
    pub const DATASET: &[&str] = &[
        "archived",
        "badges",
        "contact_points",
        "created_at",
        "deleted",
        "description",
        "description_short",
        "featured",
        "frequency",
        "harvest",
        "internal",
        "last_modified",
        "last_update",
        "metrics",
        "owner",
        "quality",
        "spatial",
        "tags",
        "temporal_coverage",
        "title",
        "extras",
    ];
    pub const ORGANIZATION: &[&str] = &[
        "badges",
        "business_number_id",
        "created_at",
        "deleted",
        "description",
        "last_modified",
        "members",
        "metrics",
        "name",
        "url",
        "extras",
    ];
    pub const RESOURCE: &[&str] = &[
        "checksum",
        "created_at",
        "description",
        "filesize",
        "filetype",
        "format",
        "harvest",
        "internal",
        "last_modified",
        "mime",
        "preview_url",
        "schema",
        "title",
        "type",
        "url",
        "extras",
    ];
    pub const TOPIC: &[&str] = &[
        "created_at",
        "description",
        "featured",
        "last_modified",
        "name",
        "owner",
        "private",
        "slug",
        "spatial",
        "tags",
        "extras",
    ];
}

/// `display`, `get`, `update`, `delete`: what every noun takes.
#[derive(Debug, Subcommand)]
pub enum Common {
    /// Its main attributes, one per line (the official tool's `display`).
    Display {
        /// Its id.
        id: String,
    },
    /// Its metadata as the API returns it, JSON (the official tool's `get`).
    Get {
        /// Its id.
        id: String,
    },
    /// Change fields: `--set key=value`, repeatable.
    Update {
        /// Its id.
        id: String,
        /// `key=value` (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Delete it.
    Delete {
        /// Its id.
        id: String,
    },
}

/// The owner of a new dataset or topic, as the official tool names it.
#[derive(Debug, Args)]
pub struct OwnerArgs {
    /// The organization that will own it.
    #[arg(long = "organization-id", alias = "organization_id", value_name = "ID")]
    pub organization_id: Option<String>,
    /// The user that will own it.
    #[arg(
        long = "owner-id",
        alias = "owner_id",
        value_name = "ID",
        conflicts_with = "organization_id"
    )]
    pub owner_id: Option<String>,
}

/// `dataset …`
#[derive(Debug, Subcommand)]
pub enum DatasetCompat {
    /// Create a dataset.
    Create {
        /// The title (or --title).
        #[arg(value_name = "TITLE")]
        title: Option<String>,
        /// The description (or --description).
        #[arg(value_name = "DESCRIPTION")]
        description: Option<String>,
        /// The title, as the official README writes it.
        #[arg(
            long = "title",
            id = "title_flag",
            value_name = "TITLE",
            conflicts_with = "title"
        )]
        title_flag: Option<String>,
        /// The description, as the official README writes it.
        #[arg(
            long = "description",
            id = "description_flag",
            value_name = "TEXT",
            conflicts_with = "description"
        )]
        description_flag: Option<String>,
        /// Who owns it.
        #[command(flatten)]
        owner: OwnerArgs,
        /// `key=value` to set as well (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Reorder its resources by an attribute: `title.asc`, `created_at.desc`, …
    SortResources {
        /// The dataset's id.
        id: String,
        /// `<key>.<asc|desc>`, the key one of created_at, filesize, format,
        /// last_modified, mime, title, url.
        by: String,
    },
    /// display, get, update, delete.
    #[command(flatten)]
    Common(Common),
}

/// `organization …`
#[derive(Debug, Subcommand)]
pub enum OrganizationCompat {
    /// Create an organization.
    Create {
        /// The name.
        name: String,
        /// The description.
        description: String,
        /// `key=value` to set as well (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// display, get, update, delete.
    #[command(flatten)]
    Common(Common),
}

/// `resource …`
#[derive(Debug, Subcommand)]
pub enum ResourceCompat {
    /// Create a resource: an uploaded file or a remote URL.
    Create {
        /// The dataset's id.
        dataset_id: String,
        /// The title.
        title: String,
        /// The file to upload (a static resource).
        #[arg(
            long = "file-to-upload",
            alias = "file_to_upload",
            value_name = "PATH",
            required_unless_present = "url"
        )]
        file_to_upload: Option<std::path::PathBuf>,
        /// The URL of the file (a remote resource).
        #[arg(long, value_name = "URL", conflicts_with = "file_to_upload")]
        url: Option<String>,
        /// A community resource rather than one of the dataset's own.
        #[arg(
            long = "is-communautary",
            alias = "is_communautary",
            overrides_with = "no_is_communautary"
        )]
        is_communautary: bool,
        /// One of the dataset's own resources (the default).
        #[arg(long = "no-is-communautary", hide = true)]
        no_is_communautary: bool,
        /// `key=value` to set as well (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// Download its file to a path.
    Download {
        /// The resource's id.
        id: String,
        /// Where to write it.
        path: std::path::PathBuf,
    },
    /// display, get, update, delete.
    #[command(flatten)]
    Common(Common),
}

/// `topic …`
#[derive(Debug, Subcommand)]
pub enum TopicCompat {
    /// Create a topic.
    Create {
        /// The name.
        name: String,
        /// Who owns it.
        #[command(flatten)]
        owner: OwnerArgs,
        /// `key=value` to set as well (repeatable).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
    },
    /// display, get, update, delete.
    #[command(flatten)]
    Common(Common),
}

/// `setup`
#[derive(Debug, Args)]
pub struct SetupArgs {
    /// prod (or www) or demo [asked when absent].
    #[arg(long, value_name = "ENV")]
    pub environment: Option<String>,
}

/// The four nouns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Noun {
    Dataset,
    Organization,
    Resource,
    Topic,
}

impl Noun {
    /// The word starting its messages.
    fn word(self) -> &'static str {
        match self {
            Noun::Dataset => "Dataset",
            Noun::Organization => "Organization",
            Noun::Resource => "Resource",
            Noun::Topic => "Topic",
        }
    }
}

/// Prints one line on stdout.
fn say(line: impl std::fmt::Display) -> Result<(), CliError> {
    writeln!(std::io::stdout().lock(), "{line}")?;
    Ok(())
}

/// `--set` pairs typed by the write model `T` (none is fine on create).
fn set_fields<T: DeserializeOwned>(
    set: &[String],
    what: &str,
) -> Result<Map<String, Value>, CliError> {
    if set.is_empty() {
        return Ok(Map::new());
    }
    match typed_changes::<T>(set, datagouv::model_fields::<T>(), what)? {
        Value::Object(fields) => Ok(fields),
        _ => unreachable!("changes are an object"),
    }
}

/// The id of a created object's JSON.
fn id_of(value: &Value) -> String {
    value["id"].as_str().unwrap_or_default().to_owned()
}

/// Sends a request below `/api/1` (or `/api/2` when `v2`) and reads the
/// answer as JSON (`Null` when empty).
async fn request(
    client: &Client,
    v2: bool,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Result<(String, Value), CliError> {
    let response = if v2 {
        client.raw_v2(method, path, body).await?
    } else {
        client.raw(method, path, body).await?
    };
    let bytes = response.bytes().await.map_err(datagouv::Error::Transport)?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let value = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text)
            .map_err(|e| CliError::other(format!("the server's answer is not JSON: {e}")))?
    };
    Ok((text, value))
}

/// `/datasets/ID/`, `/organizations/ID/`, `/topics/ID/` (v2).
fn object_path(noun: Noun, id: &str) -> Result<(bool, String), CliError> {
    let id = datagouv::path_segment(id)?;
    Ok(match noun {
        Noun::Dataset => (false, format!("/datasets/{id}/")),
        Noun::Organization => (false, format!("/organizations/{id}/")),
        Noun::Topic => (true, format!("/topics/{id}/")),
        Noun::Resource => unreachable!("a resource's path needs its dataset"),
    })
}

/// Prints an object's attributes the way the official `display` does:
/// `name: value` then a rule, for each; text as is, the rest as JSON.
fn display(value: &Value, attributes: &[&str]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    for name in attributes {
        let shown = match value.get(*name).unwrap_or(&Value::Null) {
            Value::String(text) => crate::output::printable(text, true).into_owned(),
            Value::Null => "None".to_owned(),
            other => crate::output::printable(&other.to_string(), true).into_owned(),
        };
        writeln!(out, "{name}: {shown}")?;
        writeln!(out, "{}", "─".repeat(20))?;
    }
    Ok(())
}

/// `display`, `get`, `update`, `delete` of one noun.
async fn common(client: &Client, noun: Noun, command: Common) -> Result<(), CliError> {
    let word = noun.word();
    let resource_read = match (&command, noun) {
        (Common::Get { id }, Noun::Resource) => Some((id.clone(), false)),
        (Common::Display { id }, Noun::Resource) => Some((id.clone(), true)),
        _ => None,
    };
    if let Some((id, shown)) = resource_read {
        // Found by its id alone (one request), as the official tool does;
        // the JSON as the server wrote it.
        let path = format!("/datasets/resources/{}/", datagouv::path_segment(&id)?);
        let (_, mut found) = request(client, true, Method::GET, &path, None).await?;
        let value = found["resource"].take();
        return if shown {
            display(&value, attributes::RESOURCE)
        } else {
            say(serde_json::to_string_pretty(&value).expect("JSON serialises"))
        };
    }
    match command {
        Common::Get { id } => {
            let (v2, path) = object_path(noun, &id)?;
            let (text, _) = request(client, v2, Method::GET, &path, None).await?;
            say(text.trim_end())
        }
        Common::Display { id } => {
            let (v2, path) = object_path(noun, &id)?;
            let (_, value) = request(client, v2, Method::GET, &path, None).await?;
            let attributes = match noun {
                Noun::Dataset => attributes::DATASET,
                Noun::Organization => attributes::ORGANIZATION,
                Noun::Topic => attributes::TOPIC,
                Noun::Resource => attributes::RESOURCE,
            };
            display(&value, attributes)
        }
        Common::Update { id, set } => {
            match noun {
                Noun::Dataset => {
                    let changes = typed_changes::<v1::DatasetWrite>(
                        &set,
                        &datagouv::dataset_writable_fields(),
                        "a dataset",
                    )?;
                    client.update_dataset(&id, changes).await?;
                }
                Noun::Organization => {
                    let changes = typed_changes::<v1::OrganizationWrite>(
                        &set,
                        datagouv::model_fields::<v1::OrganizationWrite>(),
                        "an organization",
                    )?;
                    let (_, path) = object_path(noun, &id)?;
                    request(client, false, Method::PUT, &path, Some(changes)).await?;
                }
                Noun::Topic => {
                    let changes = crate::topics::topic_changes(&set)?;
                    client.update_topic::<Value>(&id, changes).await?;
                }
                Noun::Resource => {
                    crate::catalog::update_resource(client, &[id], &set).await?;
                }
            }
            say(format!("{word} updated successfully ✓"))
        }
        Common::Delete { id } => {
            match noun {
                Noun::Dataset => client.delete_dataset(&id).await?,
                Noun::Topic => client.delete_topic(&id).await?,
                Noun::Organization => {
                    let (_, path) = object_path(noun, &id)?;
                    request(client, false, Method::DELETE, &path, None).await?;
                }
                Noun::Resource => {
                    let (dataset, rid) = resource_dataset(client, &[id]).await?;
                    client.delete_resource(&dataset, &rid).await?;
                }
            }
            say(format!("{word} deleted successfully ✓"))
        }
    }
}

/// The owner fields of a new dataset (references) or topic (ids).
fn owner_fields(owner: &OwnerArgs, as_reference: bool) -> Map<String, Value> {
    let mut fields = Map::new();
    let field = |class: &str, id: &str| {
        if as_reference {
            json!({ "class": class, "id": id })
        } else {
            json!(id)
        }
    };
    if let Some(id) = &owner.organization_id {
        fields.insert("organization".into(), field("Organization", id));
    }
    if let Some(id) = &owner.owner_id {
        fields.insert("owner".into(), field("User", id));
    }
    fields
}

/// Runs `dataset …`.
pub async fn dataset(client: &Client, command: DatasetCompat) -> Result<(), CliError> {
    match command {
        DatasetCompat::Create {
            title,
            description,
            title_flag,
            description_flag,
            owner,
            set,
        } => {
            let (Some(title), Some(description)) =
                (title.or(title_flag), description.or(description_flag))
            else {
                return Err(CliError::usage("a dataset needs a title and a description")
                    .with_hint(
                        "`datagouv dataset create TITLE DESCRIPTION --organization-id ID`",
                    ));
            };
            let mut body = set_fields::<v1::DatasetWrite>(&set, "a dataset")?;
            body.insert("title".into(), json!(title));
            body.insert("description".into(), json!(description));
            body.extend(owner_fields(&owner, true));
            let (_, created) = request(
                client,
                false,
                Method::POST,
                "/datasets/",
                Some(Value::Object(body)),
            )
            .await?;
            say(format!(
                "Dataset created successfully ✓ id is {}",
                id_of(&created)
            ))
        }
        DatasetCompat::SortResources { id, by } => sort_resources(client, &id, &by).await,
        DatasetCompat::Common(command) => common(client, Noun::Dataset, command).await,
    }
}

/// The keys `sort-resources` sorts by.
const SORT_KEYS: &[&str] = &[
    "created_at",
    "filesize",
    "format",
    "last_modified",
    "mime",
    "title",
    "url",
];

/// `dataset sort-resources ID KEY.ORDER`: the resources sorted by one
/// attribute (absent values first), descending as the ascending order
/// reversed, then sent as the dataset's order.
async fn sort_resources(client: &Client, id: &str, by: &str) -> Result<(), CliError> {
    let refuse = |why: String| {
        CliError::usage(why).with_hint(format!(
            "write KEY.asc or KEY.desc, KEY one of {}",
            SORT_KEYS.join(", ")
        ))
    };
    let (key, order) = by
        .split_once('.')
        .filter(|(_, order)| !order.contains('.'))
        .ok_or_else(|| refuse(format!("`{by}` is not KEY.ORDER")))?;
    if !SORT_KEYS.contains(&key) {
        return Err(refuse(format!("resources cannot be sorted by `{key}`")));
    }
    let descending = match order {
        "asc" => false,
        "desc" => true,
        _ => return Err(refuse(format!("`{order}` is no order"))),
    };
    let (_, path) = object_path(Noun::Dataset, id)?;
    let (_, dataset) = request(client, false, Method::GET, &path, None).await?;
    let mut resources: Vec<&Value> = dataset["resources"]
        .as_array()
        .map(|r| r.iter().collect())
        .unwrap_or_default();
    resources.sort_by(|a, b| compare(&a[key], &b[key]));
    if descending {
        resources.reverse();
    }
    let ids: Vec<&str> = resources.iter().filter_map(|r| r["id"].as_str()).collect();
    client.reorder_resources(id, &ids).await?;
    say("Dataset's resources reordered successfully ✓")
}

/// Orders JSON values: absent first, then numbers, then text.
fn compare(a: &Value, b: &Value) -> std::cmp::Ordering {
    let rank = |v: &Value| match v {
        Value::Null => 0,
        Value::Number(_) => 1,
        _ => 2,
    };
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&y.as_f64().unwrap_or(0.0)),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Runs `organization …`.
pub async fn organization(client: &Client, command: OrganizationCompat) -> Result<(), CliError> {
    match command {
        OrganizationCompat::Create {
            name,
            description,
            set,
        } => {
            let mut body = set_fields::<v1::OrganizationWrite>(&set, "an organization")?;
            body.insert("name".into(), json!(name));
            body.insert("description".into(), json!(description));
            let (_, created) = request(
                client,
                false,
                Method::POST,
                "/organizations/",
                Some(Value::Object(body)),
            )
            .await?;
            say(format!(
                "Organization created successfully ✓ id is {}",
                id_of(&created)
            ))
        }
        OrganizationCompat::Common(command) => common(client, Noun::Organization, command).await,
    }
}

/// Runs `topic …`.
pub async fn topic(client: &Client, command: TopicCompat) -> Result<(), CliError> {
    match command {
        TopicCompat::Create { name, owner, set } => {
            let mut body = set_fields::<v2::TopicInput>(&set, "a topic")?;
            body.insert("name".into(), json!(name));
            body.extend(owner_fields(&owner, false));
            let created: Value = client.create_topic(Value::Object(body)).await?;
            say(format!(
                "Topic created successfully ✓ id is : {}",
                id_of(&created)
            ))
        }
        TopicCompat::Common(command) => common(client, Noun::Topic, command).await,
    }
}

/// Runs `resource …`.
pub async fn resource(client: &Client, command: ResourceCompat) -> Result<(), CliError> {
    match command {
        ResourceCompat::Create {
            dataset_id,
            title,
            file_to_upload,
            url,
            is_communautary,
            no_is_communautary: _,
            set,
        } => {
            let mut fields = set_fields::<v1::ResourceWrite>(&set, "a resource")?;
            fields.insert("title".into(), json!(title));
            fields.entry("type").or_insert_with(|| json!("main"));
            let id = match (url, file_to_upload) {
                (Some(url), _) => {
                    reqwest::Url::parse(&url)
                        .map_err(|e| CliError::usage(format!("--url `{url}` is not a URL: {e}")))?;
                    fields.insert("url".into(), json!(url));
                    fields.entry("filetype").or_insert_with(|| json!("remote"));
                    let (path, body) = if is_communautary {
                        fields.insert(
                            "dataset".into(),
                            json!({ "class": "Dataset", "id": dataset_id }),
                        );
                        ("/datasets/community_resources/".to_owned(), fields)
                    } else {
                        let dataset = datagouv::path_segment(&dataset_id)?;
                        (format!("/datasets/{dataset}/resources/"), fields)
                    };
                    let (_, created) = request(
                        client,
                        false,
                        Method::POST,
                        &path,
                        Some(Value::Object(body)),
                    )
                    .await?;
                    id_of(&created)
                }
                (None, Some(file)) => {
                    let source = UploadSource::file(&file).await?;
                    let options = UploadOptions::default();
                    let (id, path) = if is_communautary {
                        let target = ResourceUpload::NewCommunityResource {
                            dataset: &dataset_id,
                        };
                        let uploaded = client
                            .upload_community_resource(target, source, options)
                            .await?;
                        let id = uploaded.id.clone().unwrap_or_default();
                        (
                            id.clone(),
                            format!(
                                "/datasets/community_resources/{}/",
                                datagouv::path_segment(&id)?
                            ),
                        )
                    } else {
                        let target = ResourceUpload::NewResource {
                            dataset: &dataset_id,
                        };
                        let uploaded = client.upload_resource(target, source, options).await?;
                        let id = uploaded.id.clone();
                        let dataset = datagouv::path_segment(&dataset_id)?;
                        (
                            id.clone(),
                            format!(
                                "/datasets/{dataset}/resources/{}/",
                                datagouv::path_segment(&id)?
                            ),
                        )
                    };
                    // Then the title and the --set fields, as the official tool does.
                    request(
                        client,
                        false,
                        Method::PUT,
                        &path,
                        Some(Value::Object(fields)),
                    )
                    .await?;
                    id
                }
                (None, None) => unreachable!("clap requires one of them"),
            };
            say(format!("Resource created successfully ✓ id is {id}"))
        }
        ResourceCompat::Download { id, path } => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)
                    .map_err(|e| datagouv::Error::io("create the folder", parent, e))?;
            }
            client
                .download(
                    DownloadSource::Resource(id),
                    &path,
                    DownloadOptions::default(),
                )
                .await?;
            say(format!(
                "Resource downloaded successfully at {} ✓",
                path.display()
            ))
        }
        ResourceCompat::Common(command) => common(client, Noun::Resource, command).await,
    }
}

/// `setup`: asks for the environment and the API key (hidden as typed;
/// blank for none) unless given (`--environment`, `--api-key`), and writes
/// them into this CLI's config file, owner-only.
pub fn setup(
    settings: &Settings,
    args: SetupArgs,
    key_flag: Option<String>,
) -> Result<(), CliError> {
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut lines = stdin.lock().lines();
    let mut ask = |prompt: &str, secret: bool| -> Result<String, CliError> {
        eprint!("{prompt}: ");
        std::io::stderr().flush()?;
        let answer = if interactive && secret {
            console::Term::stderr()
                .read_secure_line()
                .map_err(|e| CliError::other(format!("cannot read the answer: {e}")))?
        } else {
            match lines.next() {
                Some(line) => {
                    line.map_err(|e| CliError::other(format!("cannot read the answer: {e}")))?
                }
                None => String::new(),
            }
        };
        if !interactive {
            eprintln!();
        }
        Ok(answer.trim().to_owned())
    };
    let environment = match args.environment {
        Some(environment) => environment,
        None => {
            let answer = ask("The environment you intend to interact with [prod]", false)?;
            if answer.is_empty() {
                "prod".to_owned()
            } else {
                answer
            }
        }
    };
    let environment = match environment.trim().to_ascii_lowercase().as_str() {
        "prod" | "www" | "production" => "prod",
        "demo" => "demo",
        other => {
            return Err(CliError::usage(format!("unknown environment `{other}`"))
                .with_hint("this CLI serves prod (or www) and demo; --main-url points it at any other udata"));
        }
    };
    let key = match key_flag {
        Some(key) => key,
        None => ask("Your API key (or leave blank to remain anonymous)", true)?,
    };
    let key = Some(key).filter(|k| !k.trim().is_empty());
    if settings.config_file_exists() {
        say("A config file already exists, it will be overwritten")?;
    }
    settings.write_setup(environment, key)?;
    say("Config saved ✓")
}

/// `delete-config`: deletes this CLI's config file.
pub fn delete_config(settings: &Settings) -> Result<(), CliError> {
    settings.delete_config_file()?;
    say("Config deleted ✓")
}
