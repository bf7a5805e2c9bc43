//! Catalog lists as Python iterators and async iterators that read page
//! by page, lazily, with a few pages requested ahead.

use datagouv::{Page, Paginator};
use futures::{StreamExt, stream::BoxStream};
use pyo3::{
    exceptions::{PyStopAsyncIteration, PyStopIteration},
    prelude::*,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicI64, Ordering},
    },
};

use crate::{
    client::Shared,
    errors::{Failure, invalid_input},
    items::{Dataset, Item, Resource},
    runtime::{awaitable, wait},
};

include!(concat!(env!("OUT_DIR"), "/list_parameters.rs"));

/// The most pages a list may request ahead of its reader.
const MAX_PREFETCH: usize = 64;

/// One page of a Main API list, its items kept as JSON.
#[derive(Deserialize)]
struct JsonPage {
    #[serde(default)]
    data: Vec<Box<RawValue>>,
    total: Option<u64>,
    page_size: Option<u64>,
    next_page: Option<String>,
}

impl Page for JsonPage {
    type Item = Box<RawValue>;

    fn into_items(self) -> Vec<Box<RawValue>> {
        self.data
    }

    fn total(&self) -> Option<u64> {
        self.total
    }

    fn page_size(&self) -> Option<u64> {
        self.page_size
    }

    fn has_next(&self) -> bool {
        self.next_page.is_some()
    }

    fn len(&self) -> usize {
        self.data.len()
    }
}

/// What kind of objects a list holds (their Python class).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    /// `Dataset`.
    Dataset,
    /// `Resource` of this dataset.
    Resource,
    /// `Item`.
    Other,
}

/// A list request: its path, API version and query parameters.
pub(crate) struct ListRequest {
    /// The family (`datasets`, …), for its known parameters.
    pub family: &'static str,
    /// The path below the API root.
    pub path: String,
    /// Main API v2 rather than v1.
    pub v2: bool,
    /// The query parameters but paging.
    pub params: Vec<(String, String)>,
    /// Items per page.
    pub page_size: u64,
    /// Stop after this many items.
    pub limit: Option<usize>,
    /// Pages requested ahead of the reader.
    pub prefetch: usize,
    /// The class of the items.
    pub kind: Kind,
    /// The dataset of listed resources.
    pub dataset: Option<String>,
}

impl ListRequest {
    /// Checks the parameters against the list's spec, before any request.
    pub(crate) fn check(&self) -> PyResult<()> {
        let known = list_parameters(self.family);
        for (name, _) in &self.params {
            if !known.contains(&name.as_str()) || name == "page" || name == "page_size" {
                let accepted: Vec<&str> = known
                    .iter()
                    .copied()
                    .filter(|n| *n != "page" && *n != "page_size")
                    .collect();
                return Err(invalid_input(format!(
                    "`{name}` is not a filter of {}; its filters are: {} (page_size= and limit= set the paging)",
                    self.family,
                    accepted.join(", ")
                )));
            }
        }
        if self.prefetch > MAX_PREFETCH {
            return Err(invalid_input(format!(
                "prefetch {} is out of range: use 0 to {MAX_PREFETCH} pages ahead",
                self.prefetch
            )));
        }
        if !(1..=1000).contains(&self.page_size) {
            return Err(invalid_input(format!(
                "page_size {} is out of range: use 1 to 1000",
                self.page_size
            )));
        }
        Ok(())
    }

    /// The lazy stream of pages.
    fn pages(self, shared: &Shared) -> BoxStream<'static, Result<JsonPage, datagouv::Error>> {
        let client = shared.sdk.clone();
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in &self.params {
            query.append_pair(name, value);
        }
        let (base, size, v2) = (
            format!("{}?{}", self.path, query.finish()),
            self.page_size,
            self.v2,
        );
        let mut paginator = Paginator::from_pages(move |page| {
            let client = client.clone();
            let path = format!("{base}&page={page}&page_size={size}");
            async move {
                let response = if v2 {
                    client.raw_v2(reqwest::Method::GET, &path, None).await?
                } else {
                    client.raw(reqwest::Method::GET, &path, None).await?
                };
                let body = response.bytes().await.map_err(datagouv::Error::Transport)?;
                serde_json::from_slice::<JsonPage>(&body).map_err(|source| {
                    datagouv::Error::Decode {
                        excerpt: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
                        source,
                    }
                })
            }
        })
        .prefetch(self.prefetch);
        if let Some(limit) = self.limit {
            paginator = paginator.max_items(limit);
        }
        paginator.pages()
    }
}

/// The state shared by an iterator and the tasks reading its pages.
struct Listing {
    pages: tokio::sync::Mutex<BoxStream<'static, Result<JsonPage, datagouv::Error>>>,
    buffer: Mutex<VecDeque<Box<RawValue>>>,
    /// Items still to give when a limit is set (pages may hold more).
    left: Mutex<Option<usize>>,
    /// The announced total, -1 before the first page.
    total: AtomicI64,
    kind: Kind,
    dataset: Option<String>,
    shared: Arc<Shared>,
}

impl Listing {
    fn new(shared: Arc<Shared>, request: ListRequest) -> Arc<Listing> {
        let (kind, dataset, limit) = (request.kind, request.dataset.clone(), request.limit);
        Arc::new(Listing {
            pages: tokio::sync::Mutex::new(request.pages(&shared)),
            buffer: Mutex::new(VecDeque::new()),
            left: Mutex::new(limit),
            total: AtomicI64::new(-1),
            kind,
            dataset,
            shared,
        })
    }

    /// The next item already read, if any (counted against the limit).
    fn pop(&self) -> Option<Box<RawValue>> {
        let mut left = self.left.lock().expect("not poisoned");
        if *left == Some(0) {
            return None;
        }
        let item = self.buffer.lock().expect("not poisoned").pop_front()?;
        if let Some(left) = left.as_mut() {
            *left -= 1;
        }
        Some(item)
    }

    fn exhausted(&self) -> bool {
        *self.left.lock().expect("not poisoned") == Some(0)
    }

    /// Reads the next non-empty page into the buffer; false at the end.
    async fn fill(self: Arc<Self>) -> Result<bool, Failure> {
        let mut pages = self.pages.lock().await;
        loop {
            match pages.next().await {
                None => return Ok(false),
                Some(page) => {
                    let page = page?;
                    if let Some(total) = page.total() {
                        self.total.store(total as i64, Ordering::Relaxed);
                    }
                    if page.is_empty() {
                        continue;
                    }
                    self.buffer
                        .lock()
                        .expect("not poisoned")
                        .extend(page.into_items());
                    return Ok(true);
                }
            }
        }
    }

    fn to_python(&self, py: Python<'_>, raw: Box<RawValue>) -> PyResult<Py<PyAny>> {
        let item = Item::from_text(Box::<str>::from(raw));
        match self.kind {
            Kind::Dataset => Dataset::of(py, self.shared.clone(), item),
            Kind::Resource => Resource::of(py, self.shared.clone(), item, self.dataset.clone()),
            Kind::Other => Ok(Bound::new(py, item)?.into_any().unbind()),
        }
    }

    fn total(&self) -> Option<u64> {
        u64::try_from(self.total.load(Ordering::Relaxed)).ok()
    }
}

/// A list read page by page as it is iterated.
#[pyclass(frozen, module = "datagouv_rs")]
pub struct ItemIterator {
    listing: Arc<Listing>,
}

impl ItemIterator {
    pub(crate) fn new(shared: Arc<Shared>, request: ListRequest) -> PyResult<ItemIterator> {
        request.check()?;
        Ok(ItemIterator {
            listing: Listing::new(shared, request),
        })
    }
}

#[pymethods]
impl ItemIterator {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        loop {
            if let Some(value) = self.listing.pop() {
                return self.listing.to_python(py, value);
            }
            if self.listing.exhausted() || !wait(py, self.listing.clone().fill())? {
                return Err(PyStopIteration::new_err(()));
            }
        }
    }

    /// The number of items the server announced (None before the first page).
    #[getter]
    fn total(&self) -> Option<u64> {
        self.listing.total()
    }
}

/// The async twin of `ItemIterator`.
#[pyclass(frozen, module = "datagouv_rs")]
pub struct AsyncItemIterator {
    listing: Arc<Listing>,
}

impl AsyncItemIterator {
    pub(crate) fn new(shared: Arc<Shared>, request: ListRequest) -> PyResult<AsyncItemIterator> {
        request.check()?;
        Ok(AsyncItemIterator {
            listing: Listing::new(shared, request),
        })
    }
}

#[pymethods]
impl AsyncItemIterator {
    fn __aiter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let listing = self.listing.clone();
        let reader = listing.clone();
        awaitable(
            py,
            async move {
                loop {
                    if let Some(value) = reader.pop() {
                        return Ok(Some(value));
                    }
                    if reader.exhausted() || !reader.clone().fill().await? {
                        return Ok(None);
                    }
                }
            },
            move |py, next| match next {
                Some(value) => listing.to_python(py, value),
                None => Err(PyStopAsyncIteration::new_err(())),
            },
        )
    }

    /// The number of items the server announced (None before the first page).
    #[getter]
    fn total(&self) -> Option<u64> {
        self.listing.total()
    }
}
