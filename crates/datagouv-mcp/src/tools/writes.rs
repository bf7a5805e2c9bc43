//! The tools that change data, offered only with `--allow-writes` and an
//! API key: `create_dataset`, `update_dataset`, `upload_resource` (which
//! also needs `--allow-files`).

use datagouv::{DatasetDraft, Error, ResourceUpload, UploadOptions, UploadSource};
use rmcp::{handler::server::wrapper::Parameters, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{DatagouvMcp, ToolResult, answer, finish};
use crate::api_path::sdk_id;

/// `create_dataset`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateDataset {
    /// The title.
    pub title: String,
    /// The description (Markdown).
    pub description: String,
    /// Publish for this organization (its id; leave out to publish as the key's user).
    #[serde(default)]
    #[schemars(with = "String")]
    pub organization: Option<String>,
    /// Tags, 3 to 96 characters each.
    #[serde(default)]
    pub tags: Vec<String>,
    /// A license id such as `lov2` or `odc-odbl` (leave out for none).
    #[serde(default)]
    #[schemars(with = "String")]
    pub license: Option<String>,
    /// An update frequency id such as `monthly` (leave out for unknown).
    #[serde(default)]
    #[schemars(with = "String")]
    pub frequency: Option<String>,
}

/// `update_dataset`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct UpdateDataset {
    /// The dataset's id or slug.
    pub dataset_id: String,
    /// The fields to set and their new values, e.g. `{"description": "…", "private": false}`.
    pub changes: Map<String, Value>,
}

/// `upload_resource`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct UploadResource {
    /// The dataset's id or slug.
    pub dataset_id: String,
    /// The file, relative to the allowed directory.
    pub file: String,
}

#[tool_router(router = write_router, vis = "pub(super)")]
impl DatagouvMcp {
    /// Create a private draft dataset (needs --allow-writes and an API key).
    #[tool(annotations(
        title = "Create a dataset",
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = false,
        open_world_hint = true
    ))]
    async fn create_dataset(&self, Parameters(args): Parameters<CreateDataset>) -> ToolResult {
        finish(async {
            let draft = DatasetDraft { title: args.title, description: args.description, organization: args.organization, tags: args.tags, license: args.license, frequency: args.frequency };
            let dataset = self.client.create_draft_dataset(draft).await?;
            let text = format!("Created the private draft dataset {} (ID: {}). update_dataset with {{\"private\": false}} publishes it.", dataset.title, dataset.id);
            Ok::<_, Error>(answer(text, json!({"id": dataset.id, "slug": dataset.slug, "title": dataset.title})))
        }.await)
    }

    /// Change fields of a dataset (needs --allow-writes and an API key).
    #[tool(annotations(
        title = "Update a dataset",
        read_only_hint = false,
        destructive_hint = true,
        idempotent_hint = true,
        open_world_hint = true
    ))]
    async fn update_dataset(&self, Parameters(args): Parameters<UpdateDataset>) -> ToolResult {
        finish(
            async {
                let fields: Vec<String> = args.changes.keys().cloned().collect();
                let dataset = self
                    .client
                    .update_dataset(
                        sdk_id("dataset_id", &args.dataset_id)?,
                        Value::Object(args.changes),
                    )
                    .await?;
                Ok::<_, Error>(answer(
                    format!("Updated {} of dataset {}.", fields.join(", "), dataset.id),
                    json!({"id": dataset.id, "updated": fields}),
                ))
            }
            .await,
        )
    }

    /// Upload a file (below the allowed directory) as a new resource of a dataset (needs
    /// --allow-writes, --allow-files and an API key).
    #[tool(annotations(
        title = "Upload a resource",
        read_only_hint = false,
        destructive_hint = false,
        idempotent_hint = false,
        open_world_hint = true
    ))]
    async fn upload_resource(&self, Parameters(args): Parameters<UploadResource>) -> ToolResult {
        finish(
            async {
                let dataset = sdk_id("dataset_id", &args.dataset_id)?;
                let path = self.allowed_folder()?.file_to_read(&args.file)?;
                let source = UploadSource::file(&path).await?;
                let resource = self
                    .client
                    .upload_resource(
                        ResourceUpload::NewResource { dataset },
                        source,
                        UploadOptions::default(),
                    )
                    .await?;
                Ok::<_, Error>(answer(
                    format!(
                        "Uploaded {} as resource {} of dataset {}.",
                        args.file, resource.id, args.dataset_id
                    ),
                    json!({"id": resource.id, "url": resource.url}),
                ))
            }
            .await,
        )
    }
}
