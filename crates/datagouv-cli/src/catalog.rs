//! The catalog commands (Main API): datasets, resources, organizations,
//! reuses, dataservices, users, discussions.

use datagouv::{
    Client, DatasetDraft, DownloadOptions, DownloadSource, Page, Paginator, ResourceUpload,
    SendExt, UploadOptions, UploadSource,
};
use futures::{StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;
use std::{future::Future, io::IsTerminal};

use crate::{
    cli::{
        Command, DatasetsCommand, DiscussionsCommand, ListLimit, ResourcesCommand, SimpleCommand,
        UsersCommand,
    },
    error::CliError,
    output::{Output, Record},
};

/// Table and CSV columns of each kind of object, as a list and shown alone.
mod fields {
    pub const DATASET_LIST: &[&str] = &["id", "title", "organization.name", "last_update"];
    pub const DATASET: &[&str] = &[
        "id",
        "slug",
        "title",
        "organization.name",
        "owner.slug",
        "license",
        "frequency",
        "tags",
        "private",
        "archived",
        "created_at",
        "last_update",
        "resources.title",
        "page",
    ];
    pub const RESOURCE_LIST: &[&str] = &["id", "title", "format", "filesize", "type"];
    pub const RESOURCE: &[&str] = &[
        "id",
        "title",
        "type",
        "format",
        "mime",
        "filesize",
        "checksum.value",
        "url",
        "created_at",
        "last_modified",
        "latest",
    ];
    pub const ORGANIZATION_LIST: &[&str] = &["id", "slug", "name"];
    pub const ORGANIZATION: &[&str] = &[
        "id",
        "slug",
        "name",
        "acronym",
        "url",
        "badges.kind",
        "members.user.slug",
        "metrics.datasets",
        "metrics.reuses",
        "created_at",
        "page",
    ];
    pub const REUSE_LIST: &[&str] = &["id", "title", "type", "organization.name", "owner.slug"];
    pub const REUSE: &[&str] = &[
        "id",
        "slug",
        "title",
        "type",
        "topic",
        "url",
        "organization.name",
        "owner.slug",
        "tags",
        "datasets.title",
        "created_at",
        "page",
    ];
    pub const DATASERVICE_LIST: &[&str] = &["id", "title", "organization.name", "base_api_url"];
    pub const DATASERVICE: &[&str] = &[
        "id",
        "slug",
        "title",
        "organization.name",
        "owner.slug",
        "base_api_url",
        "machine_documentation_url",
        "access_type",
        "license",
        "tags",
        "created_at",
        "self_web_url",
    ];
    pub const USER: &[&str] = &[
        "id",
        "slug",
        "first_name",
        "last_name",
        "organizations.name",
        "since",
        "page",
    ];
    pub const ME: &[&str] = &[
        "id",
        "slug",
        "first_name",
        "last_name",
        "email",
        "roles",
        "organizations.name",
        "since",
    ];
    pub const DISCUSSION_LIST: &[&str] = &["id", "title", "subject.class", "subject.id", "closed"];
    pub const DISCUSSION: &[&str] = &[
        "id",
        "title",
        "subject.class",
        "subject.id",
        "user.slug",
        "created",
        "closed",
        "discussion.content",
    ];
}

/// A paginator over a list whose only filter is the search text `q`
/// (organizations, reuses, dataservices): the generated builders share no
/// trait, so a macro names the operation.
macro_rules! searchable {
    ($main:ident, $operation:ident, $query:ident, $size:expr) => {{
        let size = $size;
        Paginator::new(move |page| {
            let (main, query) = ($main.clone(), $query.clone());
            async move {
                let mut call = main.$operation().page(page).page_size(size);
                if let Some(query) = query {
                    call = call.q(query);
                }
                call.send().await
            }
        })
    }};
}

/// Runs a catalog command.
pub async fn run(client: &Client, command: Command, output: &Output) -> Result<(), CliError> {
    let main = client.main().clone();
    match command {
        Command::Datasets(DatasetsCommand::List {
            query,
            words,
            organization,
            tag,
            limit,
        }) => {
            let query = query.query.or(words);
            let size = page_size(limit);
            output.check_fields(datagouv::model_fields::<datagouv::Dataset>())?;
            // udata filters on the organization's id only: a slug is resolved.
            let organization = match organization {
                Some(organization) => Some(organization_id(client, &organization).await?),
                None => None,
            };
            let pages = Paginator::new(move |page| {
                let (main, query, organization, tag) = (
                    main.clone(),
                    query.clone(),
                    organization.clone(),
                    tag.clone(),
                );
                async move {
                    let mut call = main.list_datasets().page(page).page_size(size);
                    if let Some(query) = query {
                        call = call.q(query);
                    }
                    if let Some(organization) = organization {
                        call = call.organization(organization);
                    }
                    if !tag.is_empty() {
                        call = call.tag(tag);
                    }
                    call.send().await
                }
            });
            list(pages, limit, output, fields::DATASET_LIST).await
        }
        Command::Datasets(DatasetsCommand::Show { dataset }) => {
            let request = main.get_dataset().dataset(dataset).send().value();
            show(request, output, fields::DATASET).await
        }
        Command::Datasets(DatasetsCommand::Create {
            title,
            description,
            organization,
            tag,
            license,
            frequency,
        }) => {
            output.check_fields(datagouv::model_fields::<datagouv::Dataset>())?;
            let organization = match organization {
                Some(organization) => Some(organization_id(client, &organization).await?),
                None => None,
            };
            let draft = DatasetDraft {
                title,
                description,
                organization,
                tags: tag,
                license,
                frequency,
            };
            show(client.create_draft_dataset(draft), output, fields::DATASET).await
        }
        Command::Datasets(DatasetsCommand::Update { dataset, set }) => {
            let changes = parse_changes(&set)?;
            let request = client.update_dataset(&dataset, changes);
            show(request, output, fields::DATASET).await
        }
        Command::Datasets(DatasetsCommand::Delete { dataset }) => {
            client.delete_dataset(&dataset).await?;
            let record = Record::from_pairs([("deleted", Value::from(dataset))]);
            output.print_one(record, None).await
        }
        Command::Resources(ResourcesCommand::Download { rid, file }) => {
            download(client, rid, &file, output).await
        }
        Command::Resources(ResourcesCommand::Upload {
            dataset,
            file,
            replace,
            chunk_size,
        }) => {
            output.check_fields(datagouv::model_fields::<datagouv::Resource>())?;
            let source = UploadSource::file(&file).await?;
            let bar = bytes_bar("uploading");
            let tick = bar.clone();
            let mut options = UploadOptions::default().on_progress(move |done, total| {
                tick.set_length(total);
                tick.set_position(done);
            });
            if let Some(bytes) = chunk_size {
                options = options.chunk_size(bytes);
            }
            let target = match &replace {
                Some(resource) => ResourceUpload::ReplaceResource {
                    dataset: &dataset,
                    resource,
                },
                None => ResourceUpload::NewResource { dataset: &dataset },
            };
            let result = client.upload_resource(target, source, options).await;
            bar.finish_and_clear();
            show(async { result }, output, fields::RESOURCE).await
        }
        Command::Resources(ResourcesCommand::List {
            dataset,
            query,
            limit,
        }) => {
            let v2 = client.main_v2().clone();
            let size = page_size(limit);
            let query = query.query;
            let pages = Paginator::new(move |page| {
                let (v2, dataset, query) = (v2.clone(), dataset.clone(), query.clone());
                async move {
                    let mut call = v2
                        .list_resources()
                        .dataset(dataset)
                        .page(page)
                        .page_size(size);
                    if let Some(query) = query {
                        call = call.q(query);
                    }
                    call.send().await
                }
            });
            list(pages, limit, output, fields::RESOURCE_LIST).await
        }
        Command::Resources(ResourcesCommand::Show { ids }) => {
            output.check_fields(datagouv::model_fields::<datagouv::Resource>())?;
            let resource = match ResourceIds::parse(&ids) {
                ResourceIds::Scoped { dataset, rid } => {
                    main.get_resource()
                        .dataset(dataset)
                        .rid(rid)
                        .send()
                        .value()
                        .await?
                }
                // The v2 answer holds the resource itself (one request),
                // read as the v1 model the scoped answer is read as.
                ResourceIds::Alone { rid } => {
                    let found = serde_json::to_value(find_resource(client, rid).await?.1)
                        .expect("a resource serialises");
                    serde_json::from_value::<datagouv::Resource>(found).map_err(|e| {
                        CliError::other(format!("the resource does not fit the v1 model: {e}"))
                    })?
                }
            };
            output
                .print_one(Record::from_serialize(&resource)?, Some(fields::RESOURCE))
                .await
        }
        Command::Resources(ResourcesCommand::Update { ids, set }) => {
            output.check_fields(datagouv::model_fields::<datagouv::Resource>())?;
            let record = update_resource(client, &ids, &set).await?;
            output.print_one(record, Some(fields::RESOURCE)).await
        }
        Command::Resources(ResourcesCommand::Delete { ids }) => {
            let (dataset, rid) = resource_dataset(client, &ids).await?;
            client.delete_resource(&dataset, &rid).await?;
            let record = Record::from_pairs([
                ("deleted", Value::from(rid)),
                ("dataset", Value::from(dataset)),
            ]);
            output.print_one(record, None).await
        }
        Command::Organizations(SimpleCommand::List { query, limit }) => {
            let query = query.query;
            let pages = searchable!(main, list_organizations, query, page_size(limit));
            list(pages, limit, output, fields::ORGANIZATION_LIST).await
        }
        Command::Organizations(SimpleCommand::Show { id }) => {
            let request = main.get_organization().org(id).send().value();
            show(request, output, fields::ORGANIZATION).await
        }
        Command::Reuses(SimpleCommand::List { query, limit }) => {
            let query = query.query;
            let pages = searchable!(main, list_reuses, query, page_size(limit));
            list(pages, limit, output, fields::REUSE_LIST).await
        }
        Command::Reuses(SimpleCommand::Show { id }) => {
            let request = main.get_reuse().reuse(id).send().value();
            show(request, output, fields::REUSE).await
        }
        Command::Dataservices(SimpleCommand::List { query, limit }) => {
            let query = query.query;
            let pages = searchable!(main, list_dataservices, query, page_size(limit));
            list(pages, limit, output, fields::DATASERVICE_LIST).await
        }
        Command::Dataservices(SimpleCommand::Show { id }) => {
            let request = main.get_dataservice().dataservice(id).send().value();
            show(request, output, fields::DATASERVICE).await
        }
        Command::Users(UsersCommand::Show { id }) => {
            let request = main.get_user().user(id).send().value();
            show(request, output, fields::USER).await
        }
        Command::Me => {
            let request = main.get_me().send().value();
            show(request, output, fields::ME).await
        }
        Command::Discussions(DiscussionsCommand::List { query, for_, limit }) => {
            let size = page_size(limit);
            let query = query.query;
            let pages = Paginator::new(move |page| {
                let (main, subject, query) = (main.clone(), for_.clone(), query.clone());
                async move {
                    let mut call = main.list_discussions().page(page).page_size(size);
                    if let Some(subject) = subject {
                        call = call.for_(vec![subject]);
                    }
                    if let Some(query) = query {
                        call = call.q(query);
                    }
                    call.send().await
                }
            });
            list(pages, limit, output, fields::DISCUSSION_LIST).await
        }
        Command::Discussions(DiscussionsCommand::Show { id }) => {
            let request = main.get_discussion().id(id).send().value();
            show(request, output, fields::DISCUSSION).await
        }
        Command::Tabular(_)
        | Command::Metrics(_)
        | Command::Api(_)
        | Command::Auth(_)
        | Command::Config(_)
        | Command::Mcp(_)
        | Command::Sync(_)
        | Command::Sql(_)
        | Command::Topics(_)
        | Command::Tokens(_)
        | Command::Completions(_)
        | Command::Man(_)
        | Command::Dataset(_)
        | Command::Organization(_)
        | Command::Resource(_)
        | Command::Topic(_)
        | Command::Setup(_)
        | Command::DeleteConfig => unreachable!("dispatched in main"),
    }
}

/// A resource named by `[DATASET] RID`.
enum ResourceIds {
    /// With its dataset.
    Scoped { dataset: String, rid: String },
    /// By its id alone.
    Alone { rid: String },
}

impl ResourceIds {
    /// Reads the one or two values clap let through.
    fn parse(ids: &[String]) -> ResourceIds {
        match ids {
            [dataset, rid] => ResourceIds::Scoped {
                dataset: dataset.clone(),
                rid: rid.clone(),
            },
            [rid] => ResourceIds::Alone { rid: rid.clone() },
            _ => unreachable!("clap takes one or two values"),
        }
    }
}

/// A resource found by its id alone (Main API v2, one request): its
/// dataset's id and the resource as `GET /datasets/{dataset}/resources/{rid}/`
/// answers it. A community resource has no dataset of its own (`None`).
pub(crate) async fn find_resource(
    client: &Client,
    rid: String,
) -> Result<(Option<String>, datagouv::main_api::v2::types::Resource), CliError> {
    match client.main_v2().get_resource().rid(&rid).send().value().await {
        Ok(found) => Ok((found.dataset_id, found.resource)),
        Err(error) if error.status().is_some_and(|s| s.as_u16() == 404) => Err(
            CliError::not_found(format!("no resource `{rid}`")).with_hint(
                "a resource id is a UUID; `datagouv resources list DATASET` lists a dataset's resources",
            ),
        ),
        Err(error) => Err(error.into()),
    }
}

/// The dataset and id of a resource named by `[DATASET] RID`: the dataset
/// as given, else found with one request.
pub(crate) async fn resource_dataset(
    client: &Client,
    ids: &[String],
) -> Result<(String, String), CliError> {
    match ResourceIds::parse(ids) {
        ResourceIds::Scoped { dataset, rid } => Ok((dataset, rid)),
        ResourceIds::Alone { rid } => match find_resource(client, rid.clone()).await? {
            (Some(dataset), _) => Ok((dataset, rid)),
            (None, _) => Err(CliError::usage(format!(
                "the resource `{rid}` belongs to no dataset (a community resource)"
            ))
            .with_hint("change it with `datagouv api put /datasets/community_resources/RID/`")),
        },
    }
}

/// `resources update [DATASET] RID --set …`: the `--set` pairs typed by the
/// resource model (checked before any request), the dataset found when not
/// given, the changed resource as the server answers it.
pub(crate) async fn update_resource(
    client: &Client,
    ids: &[String],
    set: &[String],
) -> Result<Record, CliError> {
    use datagouv::main_api::v1::types::ResourceWrite;
    let writable = datagouv::model_fields::<ResourceWrite>();
    let changes = typed_changes::<ResourceWrite>(set, writable, "a resource")?;
    let (dataset, rid) = resource_dataset(client, ids).await?;
    let path = format!(
        "/datasets/{}/resources/{}/",
        datagouv::path_segment(&dataset)?,
        datagouv::path_segment(&rid)?
    );
    let response = client
        .raw(reqwest::Method::PUT, &path, Some(changes))
        .await?;
    let body = response.bytes().await.map_err(datagouv::Error::Transport)?;
    Record::from_json(&String::from_utf8_lossy(&body))
}

/// Items per request: `--page-size`, else the limit, up to 100.
pub(crate) fn page_size(limit: ListLimit) -> u64 {
    match limit.page_size {
        Some(size) => u64::from(size),
        None => limit.max().map_or(100, |max| max.clamp(1, 100) as u64),
    }
}

/// Prints the items of a list, at most `--limit` of them (requesting no
/// page beyond them).
pub(crate) async fn list<P>(
    pages: Paginator<P>,
    limit: ListLimit,
    output: &Output,
    defaults: &[&str],
) -> Result<(), CliError>
where
    P: Page + Send + 'static,
    P::Item: Serialize + DeserializeOwned + Send + 'static,
{
    // Checked before the first page is asked for.
    output.check_fields(datagouv::model_fields::<P::Item>())?;
    let pages = match limit.max() {
        Some(max) => pages.max_items(max),
        None => pages,
    };
    let rows = pages
        .items()
        .map_err(CliError::from)
        .map(|item| item.and_then(|item| Record::from_serialize(&item)));
    output.print_stream(rows, Some(defaults)).await
}

/// Prints the object a request answers; `--fields` is checked against
/// the object's model before the request is sent.
pub(crate) async fn show<T, F>(
    request: F,
    output: &Output,
    defaults: &[&str],
) -> Result<(), CliError>
where
    T: Serialize + DeserializeOwned,
    F: Future<Output = Result<T, datagouv::Error>>,
{
    output.check_fields(datagouv::model_fields::<T>())?;
    let value = request.await?;
    output
        .print_one(Record::from_serialize(&value)?, Some(defaults))
        .await
}

/// The id of an organization named by id or slug (udata's dataset filters
/// take the id only).
pub(crate) async fn organization_id(
    client: &Client,
    organization: &str,
) -> Result<String, CliError> {
    let found = client
        .main()
        .get_organization()
        .org(organization)
        .send()
        .value()
        .await;
    match found {
        Ok(found) => Ok(found.id),
        Err(error) if error.status().is_some_and(|s| s.as_u16() == 404) => Err(
            CliError::not_found(format!("no organization `{organization}`")).with_hint(
                "--organization takes an organization's id or slug; \
             `datagouv organizations list -q WORDS` finds organizations",
            ),
        ),
        Err(error) => Err(error.into()),
    }
}

/// `field=value` pairs as a JSON object, each value read by its field's
/// type in the dataset model (see [`typed_changes`]).
fn parse_changes(pairs: &[String]) -> Result<Value, CliError> {
    use datagouv::main_api::v1::types::DatasetWrite;
    typed_changes::<DatasetWrite>(pairs, &datagouv::dataset_writable_fields(), "a dataset")
}

/// `field=value` pairs as a JSON object, each value read by its field's
/// type in the write model `T`: as JSON when that fits the field (`false`,
/// `["a"]`, `null` to clear it), else as text when the field takes text
/// (`title=2024` is the title "2024"). A value that fits neither, and a
/// name that is not one of `writable`, are refused before any request.
/// `what` names the object in messages ("a dataset").
pub(crate) fn typed_changes<T: DeserializeOwned>(
    pairs: &[String],
    writable: &[&str],
    what: &str,
) -> Result<Value, CliError> {
    if pairs.is_empty() {
        return Err(CliError::usage(
            "nothing to change: give at least one --set FIELD=VALUE",
        ));
    }
    let fits = |field: &str, value: &Value| {
        let one = Value::Object([(field.to_owned(), value.clone())].into_iter().collect());
        serde_json::from_value::<T>(one)
    };
    let mut changes = serde_json::Map::new();
    for pair in pairs {
        let (field, text) = pair
            .split_once('=')
            .filter(|(field, _)| !field.is_empty())
            .ok_or_else(|| CliError::usage(format!("`{pair}` is not FIELD=VALUE")))?;
        if !writable.contains(&field) {
            let why = if datagouv::model_fields::<T>().contains(&field) {
                "is set by the server: an update cannot change it".to_owned()
            } else {
                format!("is not a field of {what}")
            };
            return Err(
                CliError::usage(format!("--set `{field}`: {field} {why}")).with_hint(format!(
                    "the fields an update takes are: {}",
                    writable.join(", ")
                )),
            );
        }
        // A model with required fields refuses every one-field object the
        // same way: only a type error about this field counts.
        let type_error = |error: serde_json::Error| {
            let message = error.to_string();
            (!message.starts_with("missing field")).then_some(error)
        };
        let value = match serde_json::from_str::<Value>(text) {
            Ok(json) if fits(field, &json).err().and_then(type_error).is_none() => json,
            json => {
                let as_text = Value::from(text);
                match fits(field, &as_text).err().and_then(type_error) {
                    None => as_text,
                    Some(error) => {
                        // Report the JSON reading when there was one.
                        let error = match json {
                            Ok(json) => fits(field, &json).err().unwrap_or(error),
                            Err(_) => error,
                        };
                        return Err(CliError::usage(format!(
                            "`{pair}`: {field} cannot take `{text}`: {error}"
                        ))
                        .with_hint(
                            "the value is read as JSON when it parses (`private=false`, \
                             `tags=[\"a\",\"b\"]`, `acronym=null` to clear), else as text",
                        ));
                    }
                }
            }
        };
        changes.insert(field.to_owned(), value);
    }
    Ok(Value::Object(changes))
}

/// A bytes progress bar on stderr, hidden when stderr is not a terminal.
fn bytes_bar(action: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    let template = format!(
        "{{spinner}} {action} [{{wide_bar}}] {{bytes}}/{{total_bytes}} {{bytes_per_sec}}, eta {{eta}}"
    );
    bar.set_style(
        ProgressStyle::with_template(&template)
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    bar
}

/// `resources download RID FILE`: resumable (an interrupted download is
/// kept beside the file and continued with `Range` by the same command);
/// FILE may be a folder (existing, or ending with `/`: the file keeps its
/// own name inside it) or `-` (standard output, not resumable).
async fn download(
    client: &Client,
    rid: String,
    file: &std::path::Path,
    output: &Output,
) -> Result<(), CliError> {
    let bar = bytes_bar("downloading");
    let tick = bar.clone();
    let options = DownloadOptions::default().on_progress(move |done, total| {
        if let Some(total) = total {
            tick.set_length(total);
        }
        tick.set_position(done);
    });
    let source = DownloadSource::Resource(rid);
    if file.as_os_str() == "-" {
        let result = client
            .download_to_writer(source, &mut tokio::io::stdout(), options)
            .await;
        bar.finish_and_clear();
        // The file went to stdout: no summary there.
        return result.map(|_| ()).map_err(CliError::from);
    }
    let result = client.download(source, file, options.resumable()).await;
    bar.finish_and_clear();
    let summary = result.map_err(|error| {
        let kept = datagouv::atomic_file::AtomicFile::partial_path(file);
        let resumable = !matches!(error, datagouv::Error::ChecksumMismatch { .. });
        let error = CliError::from(error);
        if !(kept.is_file() && resumable) {
            return error;
        }
        let also = error
            .hint
            .as_deref()
            .map(|h| format!("; {h}"))
            .unwrap_or_default();
        let hint = format!(
            "what arrived is kept in {}: run the same command again to continue{also}",
            kept.display()
        );
        error.with_hint(hint)
    })?;
    let written = summary.path.as_deref().unwrap_or(file);
    let record = Record::from_pairs([
        ("file", Value::from(written.display().to_string())),
        ("bytes", summary.bytes.into()),
        ("resumed_from", summary.resumed_from.into()),
        (
            "verified",
            Value::from(
                summary
                    .verified
                    .map(|c| format!("{:?} {}", c.kind, c.value)),
            ),
        ),
    ]);
    output.print_one(record, None).await
}
