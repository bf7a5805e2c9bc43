//! The client's writes, files, rows, SQL and exports, each blocking with
//! an `…_async` twin.

use datagouv::{
    DatasetDraft, ExportOptions, ResourceUpload, SyncEvent, SyncPlan, UploadOptions, UploadSource,
};
use futures::StreamExt;
use pyo3::{IntoPyObjectExt, prelude::*};
use serde_json::json;
use std::path::PathBuf;

use crate::{
    client::{Client, changes_of, export_format, json_body, to_json},
    errors::{Failure, invalid_input},
    items::{Dataset, Resource, path_object},
    rows::{Rows, RowsArgs},
};

/// The fields of a dataset to create.
struct NewDataset {
    title: String,
    description: String,
    organization: Option<String>,
    tags: Vec<String>,
    license: Option<String>,
    frequency: Option<String>,
}

/// What to mirror.
struct SyncArgs {
    dir: PathBuf,
    datasets: Vec<String>,
    organizations: Vec<String>,
    q: Option<String>,
    delete: bool,
    dry_run: bool,
    verify: bool,
    jobs: usize,
}

/// What to export.
struct ExportArgs {
    resource: String,
    path: PathBuf,
    format: Option<String>,
    rows: RowsArgs,
    resume: bool,
}

impl Client {
    fn create_dataset_call(
        &self,
        py: Python<'_>,
        sync: bool,
        new: NewDataset,
    ) -> PyResult<Py<PyAny>> {
        let shared = self.shared();
        let sdk = shared.sdk.clone();
        let draft = DatasetDraft {
            title: new.title,
            description: new.description,
            organization: new.organization,
            tags: new.tags,
            license: new.license,
            frequency: new.frequency,
        };
        let work = async move { Ok(to_json(&sdk.create_draft_dataset(draft).await?)) };
        self.run(py, sync, work, move |py, value| {
            Dataset::create(py, shared, value)
        })
    }

    fn update_dataset_call(
        &self,
        py: Python<'_>,
        sync: bool,
        id: String,
        changes: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let changes = changes_of(changes)?;
        let shared = self.shared();
        let sdk = shared.sdk.clone();
        let work = async move { Ok(to_json(&sdk.update_dataset(&id, changes).await?)) };
        self.run(py, sync, work, move |py, value| {
            Dataset::create(py, shared, value)
        })
    }

    fn delete_dataset_call(&self, py: Python<'_>, sync: bool, id: String) -> PyResult<Py<PyAny>> {
        let sdk = self.shared().sdk.clone();
        let work = async move { Ok(sdk.delete_dataset(&id).await?) };
        self.run(py, sync, work, |py, ()| Ok(py.None()))
    }

    fn upload_call(
        &self,
        py: Python<'_>,
        sync: bool,
        dataset: String,
        path: PathBuf,
        replace: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        let shared = self.shared();
        let sdk = shared.sdk.clone();
        let owner = dataset.clone();
        let work = async move {
            let source = UploadSource::file(&path).await?;
            let target = match &replace {
                Some(resource) => ResourceUpload::ReplaceResource {
                    dataset: &dataset,
                    resource,
                },
                None => ResourceUpload::NewResource { dataset: &dataset },
            };
            Ok(to_json(
                &sdk.upload_resource(target, source, UploadOptions::default())
                    .await?,
            ))
        };
        self.run(py, sync, work, move |py, value| {
            Resource::create(py, shared, value, Some(owner))
        })
    }

    fn update_resource_call(
        &self,
        py: Python<'_>,
        sync: bool,
        id: String,
        changes: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        let changes = changes_of(changes)?;
        self.needs_key(py, "update_resource", "PUT", &id)?;
        let shared = self.shared();
        let worker = shared.clone();
        let work = async move {
            let (_, dataset) = worker.clone().resource_with_dataset(id.clone()).await?;
            let dataset = dataset.ok_or_else(|| no_dataset(&id))?;
            let path = format!(
                "/datasets/{}/resources/{}/",
                datagouv::path_segment(&dataset)?,
                datagouv::path_segment(&id)?
            );
            let response = worker
                .sdk
                .raw(reqwest::Method::PUT, &path, Some(changes))
                .await?;
            Ok((json_body(response).await?, dataset))
        };
        self.run(py, sync, work, move |py, (value, dataset)| {
            Resource::create(py, shared, value, Some(dataset))
        })
    }

    fn delete_resource_call(&self, py: Python<'_>, sync: bool, id: String) -> PyResult<Py<PyAny>> {
        self.needs_key(py, "delete_resource", "DELETE", &id)?;
        let shared = self.shared();
        let work = async move {
            let (_, dataset) = shared.clone().resource_with_dataset(id.clone()).await?;
            let dataset = dataset.ok_or_else(|| no_dataset(&id))?;
            Ok(shared.sdk.delete_resource(&dataset, &id).await?)
        };
        self.run(py, sync, work, |py, ()| Ok(py.None()))
    }

    /// Refuses a resource write with no API key before the request that
    /// finds the resource's dataset.
    fn needs_key(&self, py: Python<'_>, operation: &str, method: &str, id: &str) -> PyResult<()> {
        if self.shared().sdk.has_api_key() {
            return Ok(());
        }
        Err(Failure::Sdk(datagouv::Error::MissingApiKey {
            operation: operation.to_owned(),
            request: format!("{method} /api/1/datasets/…/resources/{id}/"),
        })
        .into_pyerr(py))
    }

    fn download_call(
        &self,
        py: Python<'_>,
        sync: bool,
        resource: String,
        path: Option<PathBuf>,
        resume: bool,
    ) -> PyResult<Py<PyAny>> {
        let work = self.shared().download(resource, path, resume);
        self.run(py, sync, work, path_object)
    }

    fn sync_call(&self, py: Python<'_>, sync: bool, args: SyncArgs) -> PyResult<Py<PyAny>> {
        if args.datasets.is_empty() && args.organizations.is_empty() && args.q.is_none() {
            return Err(invalid_input(
                "say what to mirror: datasets=[…], organizations=[…] or q=\"words\"",
            ));
        }
        let mut plan = SyncPlan::new(args.dir)
            .delete(args.delete)
            .dry_run(args.dry_run)
            .verify(args.verify)
            .jobs(args.jobs);
        for dataset in args.datasets {
            plan = plan.dataset(dataset);
        }
        for organization in args.organizations {
            plan = plan.organization(organization);
        }
        if let Some(q) = args.q {
            plan = plan.query(q);
        }
        let sdk = self.shared().sdk.clone();
        let work = async move {
            let mut events = sdk.sync(plan);
            let (mut failures, mut summary) = (Vec::new(), None);
            while let Some(event) = events.next().await {
                match event {
                    SyncEvent::Failed { file, error } => {
                        failures.push(json!({"file": file, "error": error}))
                    }
                    SyncEvent::Aborted(abort) => {
                        return Err(match abort.into_error() {
                            Ok(error) => Failure::Sdk(error),
                            Err(shared) => {
                                Failure::Sdk(datagouv::Error::InvalidInput(shared.to_string()))
                            }
                        });
                    }
                    SyncEvent::Finished(done) => summary = Some(done),
                    _ => {}
                }
            }
            let mut report =
                serde_json::to_value(summary.unwrap_or_default()).expect("a summary serialises");
            report["failures"] = failures.into();
            Ok(report)
        };
        self.run(py, sync, work, |py, value| {
            Ok(pythonize::pythonize(py, &value)?.unbind())
        })
    }

    fn export_call(&self, py: Python<'_>, sync: bool, args: ExportArgs) -> PyResult<Py<PyAny>> {
        let format = export_format(args.format.as_deref(), &args.path)?;
        let resource = self.shared().sdk.tabular_resource(&args.resource);
        let query = args
            .rows
            .narrow(resource.map_err(|e| Failure::from(e).into_pyerr(py))?);
        let (path, resume) = (args.path, args.resume);
        let work = async move {
            let summary = query
                .export_to_file(format, &path, ExportOptions::default().resume(resume))
                .await?;
            Ok(json!({
                "path": path,
                "rows": summary.rows,
                "bytes": summary.bytes,
                "windows": summary.windows,
                "windows_requested": summary.windows_requested,
                "resumed_from": summary.resumed_from,
                "restarted": summary.restarted,
            }))
        };
        self.run(py, sync, work, |py, value| {
            Ok(pythonize::pythonize(py, &value)?.unbind())
        })
    }

    fn rows_call(&self, py: Python<'_>, sync: bool, rows: Rows) -> PyResult<Py<PyAny>> {
        // Planning happens on first read; the twin only hands the object over.
        let work = async move { Ok(rows) };
        self.run(py, sync, work, |py, rows| rows.into_py_any(py))
    }
}

/// A resource whose dataset the catalog does not say.
fn no_dataset(id: &str) -> Failure {
    Failure::Sdk(datagouv::Error::InvalidInput(format!(
        "the catalog names no dataset for resource `{id}` (a community resource?)"
    )))
}

#[pymethods]
impl Client {
    /// Creates a dataset (a draft: private until published).
    #[pyo3(signature = (title, *, description = String::new(), organization = None, tags = Vec::new(), license = None, frequency = None))]
    #[allow(clippy::too_many_arguments)]
    fn create_dataset(
        &self,
        py: Python<'_>,
        title: String,
        description: String,
        organization: Option<String>,
        tags: Vec<String>,
        license: Option<String>,
        frequency: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        self.create_dataset_call(
            py,
            true,
            NewDataset {
                title,
                description,
                organization,
                tags,
                license,
                frequency,
            },
        )
    }

    /// The async twin of `create_dataset`.
    #[pyo3(signature = (title, *, description = String::new(), organization = None, tags = Vec::new(), license = None, frequency = None))]
    #[allow(clippy::too_many_arguments)]
    fn create_dataset_async(
        &self,
        py: Python<'_>,
        title: String,
        description: String,
        organization: Option<String>,
        tags: Vec<String>,
        license: Option<String>,
        frequency: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        self.create_dataset_call(
            py,
            false,
            NewDataset {
                title,
                description,
                organization,
                tags,
                license,
                frequency,
            },
        )
    }

    /// Changes fields of a dataset; the others are kept.
    fn update_dataset(
        &self,
        py: Python<'_>,
        id: String,
        changes: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        self.update_dataset_call(py, true, id, changes)
    }

    /// The async twin of `update_dataset`.
    fn update_dataset_async(
        &self,
        py: Python<'_>,
        id: String,
        changes: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        self.update_dataset_call(py, false, id, changes)
    }

    /// Deletes a dataset.
    fn delete_dataset(&self, py: Python<'_>, id: String) -> PyResult<Py<PyAny>> {
        self.delete_dataset_call(py, true, id)
    }

    /// The async twin of `delete_dataset`.
    fn delete_dataset_async(&self, py: Python<'_>, id: String) -> PyResult<Py<PyAny>> {
        self.delete_dataset_call(py, false, id)
    }

    /// Uploads a file, streamed from disk, as a new resource of `dataset`
    /// (or as the new file of resource `replace`).
    #[pyo3(signature = (dataset, path, *, replace = None))]
    fn upload_resource(
        &self,
        py: Python<'_>,
        dataset: String,
        path: PathBuf,
        replace: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        self.upload_call(py, true, dataset, path, replace)
    }

    /// The async twin of `upload_resource`.
    #[pyo3(signature = (dataset, path, *, replace = None))]
    fn upload_resource_async(
        &self,
        py: Python<'_>,
        dataset: String,
        path: PathBuf,
        replace: Option<String>,
    ) -> PyResult<Py<PyAny>> {
        self.upload_call(py, false, dataset, path, replace)
    }

    /// Changes fields of a resource (found by id alone).
    fn update_resource(
        &self,
        py: Python<'_>,
        id: String,
        changes: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        self.update_resource_call(py, true, id, changes)
    }

    /// The async twin of `update_resource`.
    fn update_resource_async(
        &self,
        py: Python<'_>,
        id: String,
        changes: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyAny>> {
        self.update_resource_call(py, false, id, changes)
    }

    /// Deletes a resource (found by id alone).
    fn delete_resource(&self, py: Python<'_>, id: String) -> PyResult<Py<PyAny>> {
        self.delete_resource_call(py, true, id)
    }

    /// The async twin of `delete_resource`.
    fn delete_resource_async(&self, py: Python<'_>, id: String) -> PyResult<Py<PyAny>> {
        self.delete_resource_call(py, false, id)
    }

    /// Downloads a resource's file, checked against its checksum.
    #[pyo3(signature = (resource, path = None, *, resume = true))]
    fn download(
        &self,
        py: Python<'_>,
        resource: String,
        path: Option<PathBuf>,
        resume: bool,
    ) -> PyResult<Py<PyAny>> {
        self.download_call(py, true, resource, path, resume)
    }

    /// The async twin of `download`.
    #[pyo3(signature = (resource, path = None, *, resume = true))]
    fn download_async(
        &self,
        py: Python<'_>,
        resource: String,
        path: Option<PathBuf>,
        resume: bool,
    ) -> PyResult<Py<PyAny>> {
        self.download_call(py, false, resource, path, resume)
    }

    /// Mirrors the files of datasets into `dir`; returns the counts.
    #[pyo3(signature = (dir, *, datasets = Vec::new(), organizations = Vec::new(), q = None, delete = false, dry_run = false, verify = false, jobs = 4))]
    #[allow(clippy::too_many_arguments)]
    fn sync(
        &self,
        py: Python<'_>,
        dir: PathBuf,
        datasets: Vec<String>,
        organizations: Vec<String>,
        q: Option<String>,
        delete: bool,
        dry_run: bool,
        verify: bool,
        jobs: usize,
    ) -> PyResult<Py<PyAny>> {
        self.sync_call(
            py,
            true,
            SyncArgs {
                dir,
                datasets,
                organizations,
                q,
                delete,
                dry_run,
                verify,
                jobs,
            },
        )
    }

    /// The async twin of `sync`.
    #[pyo3(signature = (dir, *, datasets = Vec::new(), organizations = Vec::new(), q = None, delete = false, dry_run = false, verify = false, jobs = 4))]
    #[allow(clippy::too_many_arguments)]
    fn sync_async(
        &self,
        py: Python<'_>,
        dir: PathBuf,
        datasets: Vec<String>,
        organizations: Vec<String>,
        q: Option<String>,
        delete: bool,
        dry_run: bool,
        verify: bool,
        jobs: usize,
    ) -> PyResult<Py<PyAny>> {
        self.sync_call(
            py,
            false,
            SyncArgs {
                dir,
                datasets,
                organizations,
                q,
                delete,
                dry_run,
                verify,
                jobs,
            },
        )
    }

    /// A resource's rows (Tabular API), every one of them.
    #[pyo3(signature = (resource, *, filters = Vec::new(), r#where = None, sort = Vec::new(), columns = Vec::new(), limit = None))]
    fn rows(
        &self,
        resource: &str,
        filters: Vec<Bound<'_, PyAny>>,
        r#where: Option<String>,
        sort: Vec<String>,
        columns: Vec<String>,
        limit: Option<u64>,
    ) -> PyResult<Rows> {
        let args = RowsArgs::read(&filters, r#where, sort, columns, limit)?;
        Rows::tabular(self.shared(), resource, args)
    }

    /// The async twin of `rows`.
    #[pyo3(signature = (resource, *, filters = Vec::new(), r#where = None, sort = Vec::new(), columns = Vec::new(), limit = None))]
    #[allow(clippy::too_many_arguments)]
    fn rows_async(
        &self,
        py: Python<'_>,
        resource: &str,
        filters: Vec<Bound<'_, PyAny>>,
        r#where: Option<String>,
        sort: Vec<String>,
        columns: Vec<String>,
        limit: Option<u64>,
    ) -> PyResult<Py<PyAny>> {
        let args = RowsArgs::read(&filters, r#where, sort, columns, limit)?;
        self.rows_call(py, false, Rows::tabular(self.shared(), resource, args)?)
    }

    /// A Metrics API model's rows.
    #[pyo3(signature = (model, *, filters = Vec::new(), sort = Vec::new(), columns = Vec::new(), limit = None))]
    fn metrics(
        &self,
        model: &str,
        filters: Vec<Bound<'_, PyAny>>,
        sort: Vec<String>,
        columns: Vec<String>,
        limit: Option<u64>,
    ) -> PyResult<Rows> {
        let args = RowsArgs::read(&filters, None, sort, columns, limit)?;
        Rows::metrics(self.shared(), model, args)
    }

    /// The async twin of `metrics`.
    #[pyo3(signature = (model, *, filters = Vec::new(), sort = Vec::new(), columns = Vec::new(), limit = None))]
    fn metrics_async(
        &self,
        py: Python<'_>,
        model: &str,
        filters: Vec<Bound<'_, PyAny>>,
        sort: Vec<String>,
        columns: Vec<String>,
        limit: Option<u64>,
    ) -> PyResult<Py<PyAny>> {
        let args = RowsArgs::read(&filters, None, sort, columns, limit)?;
        self.rows_call(py, false, Rows::metrics(self.shared(), model, args)?)
    }

    /// Runs read-only SQL over resources and metrics models.
    fn sql(&self, query: String) -> Rows {
        Rows::sql(self.shared(), query)
    }

    /// The async twin of `sql`.
    fn sql_async(&self, py: Python<'_>, query: String) -> PyResult<Py<PyAny>> {
        self.rows_call(py, false, Rows::sql(self.shared(), query))
    }

    /// Writes every matching row to `path`, resumably.
    #[pyo3(signature = (resource, path, *, format = None, filters = Vec::new(), r#where = None, sort = Vec::new(), columns = Vec::new(), resume = true))]
    #[allow(clippy::too_many_arguments)]
    fn export(
        &self,
        py: Python<'_>,
        resource: String,
        path: PathBuf,
        format: Option<String>,
        filters: Vec<Bound<'_, PyAny>>,
        r#where: Option<String>,
        sort: Vec<String>,
        columns: Vec<String>,
        resume: bool,
    ) -> PyResult<Py<PyAny>> {
        let rows = RowsArgs::read(&filters, r#where, sort, columns, None)?;
        self.export_call(
            py,
            true,
            ExportArgs {
                resource,
                path,
                format,
                rows,
                resume,
            },
        )
    }

    /// The async twin of `export`.
    #[pyo3(signature = (resource, path, *, format = None, filters = Vec::new(), r#where = None, sort = Vec::new(), columns = Vec::new(), resume = true))]
    #[allow(clippy::too_many_arguments)]
    fn export_async(
        &self,
        py: Python<'_>,
        resource: String,
        path: PathBuf,
        format: Option<String>,
        filters: Vec<Bound<'_, PyAny>>,
        r#where: Option<String>,
        sort: Vec<String>,
        columns: Vec<String>,
        resume: bool,
    ) -> PyResult<Py<PyAny>> {
        let rows = RowsArgs::read(&filters, r#where, sort, columns, None)?;
        self.export_call(
            py,
            false,
            ExportArgs {
                resource,
                path,
                format,
                rows,
                resume,
            },
        )
    }
}
