//! Lazy pagination of every Main API list, as streams of pages or items.
//!
//! Every udata list answers a page `{data, page, page_size, total,
//! next_page, previous_page}`. The code generation derives [`Page`] for
//! every page type and [`ListOperation`] for every request builder that
//! answers one, so every list reads in one line with [`ListExt`]:
//! `client.main().list_datasets().organization(org).items()`.
//! [`Paginator`] turns any "fetch page n" closure into the same streams.
//!
//! Nothing is requested before a stream is polled. Pages are requested,
//! read and decoded on the runtime's worker threads (when a Tokio runtime
//! runs the stream), so with [`Items::prefetch`] the pages in flight are
//! decoded on every core while the consumer handles the previous ones; a
//! request's slot frees once its body is read, so decoding never holds back
//! the next request. Pages still arrive in order, and at most twice
//! `prefetch` pages are held at once.

use datagouv_runtime::list::{PageFetcher, PageResult};
pub use datagouv_runtime::{ListOperation, Page};
use futures::{
    Stream, StreamExt, TryStreamExt,
    stream::{self, BoxStream},
};
use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};
use tokio::sync::Semaphore;

use crate::{Error, error::GeneratedError};

type PageFuture<P> = Pin<Box<dyn Future<Output = Result<P, Error>> + Send>>;

/// Lists a collection page by page, lazily, from any "fetch page n" call.
///
/// Generated list builders need none of this (see [`ListExt`]); a
/// `Paginator` serves custom cases, e.g. pages fetched with per-page
/// parameters. `fetch` sends the request for one page number (1-based):
///
/// ```no_run
/// # async fn demo(client: datagouv::Client) -> Result<(), datagouv::Error> {
/// use futures::TryStreamExt;
/// let main = client.main().clone();
/// let titles: Vec<String> = datagouv::Paginator::new(move |page| {
///     let main = main.clone();
///     async move { main.list_datasets().organization("534fff75a3a7292c64a77de4").page(page).page_size(100).send().await }
/// })
/// .max_items(500)
/// .items()
/// .map_ok(|dataset| dataset.title)
/// .try_collect()
/// .await?;
/// # Ok(()) }
/// ```
pub struct Paginator<P> {
    fetch: Box<dyn FnMut(u64) -> PageFuture<P> + Send>,
    max_items: Option<usize>,
    prefetch: usize,
}

impl<P: Page + Send + 'static> Paginator<P> {
    /// A paginator over the pages `fetch` returns.
    pub fn new<F, Fut>(mut fetch: F) -> Self
    where
        F: FnMut(u64) -> Fut + Send + 'static,
        Fut: Future<Output = Result<progenitor_client::ResponseValue<P>, GeneratedError>>
            + Send
            + 'static,
    {
        Paginator {
            fetch: Box::new(move |page| Box::pin(decoded(fetch(page)))),
            max_items: None,
            prefetch: 0,
        }
    }

    /// A paginator over the pages a generated list builder answers (what
    /// [`ListExt`] uses).
    pub fn from_fetcher(mut fetch: PageFetcher<P>) -> Self {
        Paginator {
            fetch: Box::new(move |page| Box::pin(decoded(fetch(page)))),
            max_items: None,
            prefetch: 0,
        }
    }

    /// A paginator over pages fetched and decoded by `fetch` (pages the
    /// generated clients do not type, e.g. raw JSON pages).
    pub fn from_pages<F, Fut>(mut fetch: F) -> Self
    where
        F: FnMut(u64) -> Fut + Send + 'static,
        Fut: Future<Output = Result<P, Error>> + Send + 'static,
    {
        Paginator {
            fetch: Box::new(move |page| Box::pin(fetch(page))),
            max_items: None,
            prefetch: 0,
        }
    }

    /// Stop after this many items (and request no page beyond them).
    pub fn max_items(mut self, max: usize) -> Self {
        self.max_items = Some(max);
        self
    }

    /// After the first page, keep up to `pages` requests in flight ahead of
    /// the consumer (page numbers come from `total` and `page_size`); pages
    /// still arrive in order. A request's slot frees as soon as its answer
    /// is read, so the next request starts while that page is decoded; at
    /// most `2 × pages` pages are held at once (in flight, being decoded or
    /// waiting for their turn). 0, the default, requests one page at a time.
    pub fn prefetch(mut self, pages: usize) -> Self {
        self.prefetch = pages;
        self
    }

    /// The pages, in order. Stops on a page without `next_page`, on an
    /// empty page, or past the last page `total` announces, so it cannot loop.
    pub fn pages(self) -> BoxStream<'static, Result<P, Error>> {
        let Paginator {
            mut fetch,
            max_items,
            prefetch,
        } = self;
        // Nothing is requested until the stream is first polled.
        let head = async move {
            let first = off_task(fetch(1), None).await;
            // An empty page is not the end while `next_page` and `total`
            // say there is more (udata's activity list holds pages emptied
            // of activities whose objects were deleted); without a total
            // to bound the walk, an empty page ends it, so it cannot loop.
            let rest: Pin<Box<dyn Stream<Item = Result<P, Error>> + Send>> = match &first {
                Ok(page)
                    if page.has_next()
                        && (!page.is_empty() || last_page(page, max_items).is_some()) =>
                {
                    let last = last_page(page, max_items);
                    match last {
                        Some(last) if prefetch > 0 => {
                            // Requests are made as the window moves: a huge
                            // announced `total` costs nothing up front.
                            let slots = Arc::new(Semaphore::new(prefetch));
                            let calls = stream::iter(2..=last)
                                .map(move |page| off_task(fetch(page), Some(slots.clone())));
                            let held = prefetch.saturating_mul(2);
                            Box::pin(calls.buffered(held).take_while(|page| {
                                futures::future::ready(
                                    page.as_ref()
                                        .map_or(true, |p| !p.is_empty() || p.has_next()),
                                )
                            }))
                        }
                        _ => Box::pin(sequential(fetch, 2, last)),
                    }
                }
                _ => Box::pin(stream::empty()),
            };
            stream::once(futures::future::ready(first)).chain(rest)
        };
        stream::once(head)
            .flatten()
            .scan(0usize, move |seen, page| {
                // Stop once max_items are covered, without asking for more.
                if max_items.is_some_and(|max| *seen >= max) {
                    return futures::future::ready(None);
                }
                if let Ok(page) = &page {
                    *seen += page.len();
                }
                futures::future::ready(Some(page))
            })
            .boxed()
    }

    /// The items of every page, in order, at most `max_items`.
    pub fn items(self) -> BoxStream<'static, Result<P::Item, Error>>
    where
        P::Item: Send + 'static,
    {
        let max = self.max_items.unwrap_or(usize::MAX);
        self.pages()
            .map_ok(|page| stream::iter(page.into_items().into_iter().map(Ok)))
            .try_flatten()
            .take(max)
            .boxed()
    }
}

/// One page's call with the facade's error.
async fn decoded<P>(call: impl Future<Output = PageResult<P>>) -> Result<P, Error> {
    match call.await {
        Ok(value) => Ok(value.into_inner()),
        Err(error) => Err(Error::from_generated(error).await),
    }
}

/// Runs one page's request, reading and decoding on a worker thread of the
/// current Tokio runtime when there is one (else on the polling task). The
/// work starts when the returned future is first polled, and stops when it
/// is dropped. With `slots`, the
/// request first takes a slot, which it gives back once the answer's body
/// is read (`datagouv_runtime::slot`), before the page is decoded.
fn off_task<P: Send + 'static>(
    call: PageFuture<P>,
    slots: Option<Arc<Semaphore>>,
) -> PageFuture<P> {
    Box::pin(async move {
        let slot = match slots {
            Some(slots) => Some(
                slots
                    .acquire_owned()
                    .await
                    .expect("the paginator never closes its semaphore"),
            ),
            None => None,
        };
        let call = datagouv_runtime::slot::scope(slot, call);
        crate::spawned::on_task(call, "a page was being read").await
    })
}

/// `.items()` and `.pages()` on every generated list builder (derived from
/// the specs by the code generation; [`ListOperation`] marks them).
///
/// ```no_run
/// use datagouv::prelude::*;
/// # async fn demo(client: datagouv::Client) -> Result<(), datagouv::Error> {
/// let titles: Vec<String> = client.main().list_datasets().organization("534fff75a3a7292c64a77de4")
///     .items().prefetch(2).max_items(500).map_ok(|dataset| dataset.title).try_collect().await?;
/// # Ok(()) }
/// ```
pub trait ListExt: ListOperation + Sized {
    /// Every item of every page, in order, as a lazy stream.
    fn items(self) -> Items<Self::Page> {
        Items {
            state: Lazy::Ready(self.paginator()),
        }
    }

    /// Every page, in order, as a lazy stream.
    fn pages(self) -> Pages<Self::Page> {
        Pages {
            state: Lazy::Ready(self.paginator()),
        }
    }

    /// The [`Paginator`] of this list, for finer control.
    fn paginator(self) -> Paginator<Self::Page> {
        Paginator::from_fetcher(self.into_page_fetcher())
    }
}

impl<L: ListOperation> ListExt for L {}

/// A paginator not yet polled, or its running stream.
enum Lazy<P, T> {
    Ready(Paginator<P>),
    Running(BoxStream<'static, Result<T, Error>>),
    Done,
}

impl<P: Page, T> Lazy<P, T> {
    fn configure(self, change: impl FnOnce(Paginator<P>) -> Paginator<P>) -> Self {
        match self {
            Lazy::Ready(paginator) => Lazy::Ready(change(paginator)),
            other => other,
        }
    }

    fn poll(
        &mut self,
        start: impl FnOnce(Paginator<P>) -> BoxStream<'static, Result<T, Error>>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<T, Error>>> {
        if matches!(self, Lazy::Ready(_))
            && let Lazy::Ready(paginator) = std::mem::replace(self, Lazy::Done)
        {
            *self = Lazy::Running(start(paginator));
        }
        match self {
            Lazy::Running(stream) => stream.poll_next_unpin(cx),
            _ => Poll::Ready(None),
        }
    }
}

/// The items of a list: a [`Stream`] of `Result<item, Error>`, lazy until
/// first polled. `prefetch` and `max_items` apply when called before that.
#[must_use = "streams do nothing unless polled"]
pub struct Items<P: Page> {
    state: Lazy<P, P::Item>,
}

/// The pages of a list: a [`Stream`] of `Result<page, Error>`, lazy until
/// first polled. `prefetch` and `max_items` apply when called before that.
#[must_use = "streams do nothing unless polled"]
pub struct Pages<P: Page> {
    state: Lazy<P, P>,
}

macro_rules! lazy_stream {
    ($name:ident, $item:ty, $start:expr) => {
        impl<P: Page> $name<P> {
            /// Keep up to `pages` requests in flight ahead of the consumer
            /// (see [`Paginator::prefetch`]); pages are decoded on the
            /// runtime's worker threads and still arrive in order.
            pub fn prefetch(self, pages: usize) -> Self {
                Self {
                    state: self.state.configure(|p| p.prefetch(pages)),
                }
            }

            /// Stop after this many items, requesting no page beyond them.
            pub fn max_items(self, max: usize) -> Self {
                Self {
                    state: self.state.configure(|p| p.max_items(max)),
                }
            }
        }

        impl<P: Page> Stream for $name<P> {
            type Item = Result<$item, Error>;
            fn poll_next(
                mut self: Pin<&mut Self>,
                cx: &mut Context<'_>,
            ) -> Poll<Option<Self::Item>> {
                self.state.poll($start, cx)
            }
        }
    };
}

lazy_stream!(Items, P::Item, Paginator::items);
lazy_stream!(Pages, P, Paginator::pages);

/// The last page number worth asking for, from `total`, `page_size` and
/// `max_items`; `None` when the server does not say.
fn last_page<P: Page>(first: &P, max_items: Option<usize>) -> Option<u64> {
    let size = first
        .page_size()
        .filter(|s| *s > 0)
        .or_else(|| u64::try_from(first.len()).ok().filter(|s| *s > 0))?;
    let total = first.total()?;
    let wanted = max_items.map_or(total, |max| total.min(max as u64));
    Some(wanted.div_ceil(size).max(1))
}

/// Pages `from..=last` one at a time, stopping on the end of the list.
fn sequential<P: Page + Send + 'static>(
    mut fetch: Box<dyn FnMut(u64) -> PageFuture<P> + Send>,
    from: u64,
    last: Option<u64>,
) -> impl Stream<Item = Result<P, Error>> + Send {
    stream::unfold(Some(from), move |next| {
        let call = match next {
            Some(number) if last.is_none_or(|last| number <= last) => {
                Some((number, off_task(fetch(number), None)))
            }
            _ => None,
        };
        async move {
            let (number, call) = call?;
            let page = call.await;
            let more = match &page {
                Ok(page) => page.has_next() && (!page.is_empty() || last.is_some()),
                Err(_) => false,
            };
            Some((page, more.then_some(number + 1)))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_page_comes_from_total_and_page_size() {
        let page: datagouv_main::v1::types::DatasetPage = serde_json::from_value(serde_json::json!({
            "data": [{"id": "a", "title": "t", "slug": "s", "description": "", "last_update": "2024-01-01T00:00:00+00:00",
                      "featured": false, "private": false, "license": "lov2", "frequency": "unknown",
                      "access_type": "open", "tags": [], "badges": [], "resources": [],
                      "contact_points": [], "access_audiences": []}],
            "next_page": "next", "page": 1, "page_size": 20, "total": 101,
        }))
        .unwrap();
        assert_eq!(last_page(&page, None), Some(6));
        assert_eq!(last_page(&page, Some(40)), Some(2));
        assert_eq!(last_page(&page, Some(41)), Some(3));
    }

    /// A page of one dataset of a list that announces `total` of them.
    fn one_of(total: u64, page: u64) -> datagouv_main::v1::types::DatasetPage {
        serde_json::from_value(serde_json::json!({
            "data": [{"id": format!("d{page}"), "title": "t", "slug": "s", "description": "",
                      "last_update": "2024-01-01T00:00:00+00:00", "featured": false, "private": false,
                      "license": "lov2", "frequency": "unknown", "access_type": "open", "tags": [],
                      "badges": [], "resources": [], "contact_points": [], "access_audiences": []}],
            "next_page": "next", "page": page, "page_size": 1, "total": total,
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn prefetch_asks_for_pages_as_the_window_moves_not_all_at_once() {
        use std::sync::atomic::{AtomicU64, Ordering};
        let calls = Arc::new(AtomicU64::new(0));
        let counter = calls.clone();
        let paginator = Paginator::new(move |page| {
            counter.fetch_add(1, Ordering::SeqCst);
            async move {
                Ok(progenitor_client::ResponseValue::new(
                    one_of(100_000, page),
                    reqwest::StatusCode::OK,
                    Default::default(),
                ))
            }
        });
        let first: Vec<_> = paginator
            .prefetch(2)
            .items()
            .take(3)
            .try_collect()
            .await
            .unwrap();
        assert_eq!(first.len(), 3);
        let made = calls.load(Ordering::SeqCst);
        assert!(
            made <= 3 + 4 + 1,
            "{made} page requests were made for 3 items of a list announcing 100,000 pages"
        );
    }

    /// Page `page` of a list of 6 announced items, 2 a page, whose page 2
    /// came back empty (its items filtered out by the server) but says
    /// there is more.
    fn with_a_hole(page: u64) -> datagouv_main::v1::types::DatasetPage {
        let mut value = serde_json::to_value(one_of(6, page)).unwrap();
        value["page_size"] = serde_json::json!(2);
        value["next_page"] = if page < 3 {
            serde_json::json!("next")
        } else {
            serde_json::Value::Null
        };
        if page == 2 {
            value["data"] = serde_json::json!([]);
        }
        serde_json::from_value(value).unwrap()
    }

    #[tokio::test]
    async fn an_empty_page_with_more_after_it_does_not_end_the_list() {
        for prefetch in [0, 2] {
            let paginator = Paginator::new(|page| async move {
                Ok(progenitor_client::ResponseValue::new(
                    with_a_hole(page),
                    reqwest::StatusCode::OK,
                    Default::default(),
                ))
            });
            let items: Vec<_> = paginator
                .prefetch(prefetch)
                .items()
                .try_collect()
                .await
                .unwrap();
            let ids: Vec<&str> = items.iter().map(|d| d.id.as_str()).collect();
            assert_eq!(
                ids,
                ["d1", "d3"],
                "prefetch {prefetch}: page 3 is read after the empty page 2"
            );
        }
    }

    #[test]
    fn every_page_type_and_list_of_the_specs_is_paginated() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../datagouv-main/spec");
        let generated = [
            (
                "v1.json",
                datagouv_main::v1::PAGE_TYPES,
                datagouv_main::v1::LIST_OPERATIONS,
            ),
            (
                "v2.json",
                datagouv_main::v2::PAGE_TYPES,
                datagouv_main::v2::LIST_OPERATIONS,
            ),
        ];
        for (file, page_types, lists) in generated {
            let spec: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(root.join(file)).unwrap()).unwrap();
            let schemas = spec["components"]["schemas"].as_object().unwrap();
            let is_page = |name: &str| {
                let properties = &schemas[name]["properties"];
                properties.get("data").is_some() && properties.get("next_page").is_some()
            };
            for name in schemas.keys().filter(|name| is_page(name)) {
                assert!(
                    page_types.contains(&name.as_str()),
                    "{file}: {name} has no Page"
                );
            }
            for (_, item) in spec["paths"].as_object().unwrap() {
                let Some(get) = item.get("get") else { continue };
                let answer = get
                    .pointer("/responses/2XX/content/application~1json/schema/$ref")
                    .and_then(serde_json::Value::as_str)
                    .and_then(|r| r.rsplit('/').next());
                if answer.is_some_and(is_page) {
                    let id = get["operationId"].as_str().unwrap();
                    assert!(
                        lists.contains(&id),
                        "{file}: {id} answers a page but has no ListOperation"
                    );
                }
            }
        }
    }
}
