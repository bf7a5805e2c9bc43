//! Lazy pagination of every Main API list, as streams of pages or items.
//!
//! Every udata list answers a page `{data, page, page_size, total,
//! next_page, previous_page}`; [`Page`] reads any of the generated page
//! types, and [`Paginator`] turns "fetch page n" into a stream. Nothing is
//! requested before the stream is polled, and without prefetch a page is
//! requested only when the previous one is consumed.

use futures::{
    Stream, StreamExt, TryStreamExt,
    stream::{self, BoxStream},
};
use std::{future::Future, pin::Pin};

use crate::{Error, error::GeneratedError};

/// One page of a Main API list, whatever the listed type.
pub trait Page {
    /// The listed type.
    type Item;
    /// The items of the page.
    fn into_items(self) -> Vec<Self::Item>;
    /// How many items the whole list holds, when the server says.
    fn total(&self) -> Option<u64>;
    /// The page size the server used.
    fn page_size(&self) -> Option<u64>;
    /// Whether the server announces a next page.
    fn has_next(&self) -> bool;
    /// How many items this page holds.
    fn len(&self) -> usize;
    /// Whether this page holds no item.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

macro_rules! pages {
    ($($page:path => $item:path),* $(,)?) => {
        $(
            impl Page for $page {
                type Item = $item;
                fn into_items(self) -> Vec<$item> {
                    self.data.unwrap_or_default()
                }
                fn total(&self) -> Option<u64> {
                    self.total.and_then(|t| u64::try_from(t).ok())
                }
                fn page_size(&self) -> Option<u64> {
                    self.page_size.and_then(|t| u64::try_from(t).ok())
                }
                fn has_next(&self) -> bool {
                    self.next_page.as_deref().is_some_and(|next| !next.is_empty())
                }
                fn len(&self) -> usize {
                    self.data.as_ref().map_or(0, Vec::len)
                }
            }
        )*
        /// The generated page types [`Page`] is implemented for (module::Type).
        pub const PAGE_TYPES: &[&str] = &[$(stringify!($page)),*];
    };
}

pages! {
    datagouv_main::v1::types::ActivityPage => datagouv_main::v1::types::ActivityRead,
    datagouv_main::v1::types::ChartPage => datagouv_main::v1::types::ChartRead,
    datagouv_main::v1::types::CommunityResourcePage => datagouv_main::v1::types::CommunityResource,
    datagouv_main::v1::types::ContactPointPage => datagouv_main::v1::types::ContactPointRead,
    datagouv_main::v1::types::DataservicePage => datagouv_main::v1::types::DataserviceRead,
    datagouv_main::v1::types::DatasetPage => datagouv_main::v1::types::DatasetRead,
    datagouv_main::v1::types::DiscussionPage => datagouv_main::v1::types::DiscussionRead,
    datagouv_main::v1::types::FollowPage => datagouv_main::v1::types::FollowRead,
    datagouv_main::v1::types::HarvestItemPage => datagouv_main::v1::types::HarvestItemRead,
    datagouv_main::v1::types::HarvestJobPage => datagouv_main::v1::types::HarvestJobRead,
    datagouv_main::v1::types::HarvestSourcePage => datagouv_main::v1::types::HarvestSourceRead,
    datagouv_main::v1::types::NotificationPage => datagouv_main::v1::types::NotificationRead,
    datagouv_main::v1::types::NotificationSettingPage => datagouv_main::v1::types::NotificationSettingRead,
    datagouv_main::v1::types::OrganizationPage => datagouv_main::v1::types::OrganizationRead,
    datagouv_main::v1::types::PostPage => datagouv_main::v1::types::PostRead,
    datagouv_main::v1::types::ReportPage => datagouv_main::v1::types::ReportRead,
    datagouv_main::v1::types::ReusePage => datagouv_main::v1::types::ReuseRead,
    datagouv_main::v1::types::UserPage => datagouv_main::v1::types::UserRead,
    datagouv_main::v2::types::DataserviceSearchPage => datagouv_main::v2::types::DataserviceRead,
    datagouv_main::v2::types::DatasetPage => datagouv_main::v2::types::Dataset,
    datagouv_main::v2::types::DatasetSearchPage => datagouv_main::v2::types::Dataset,
    datagouv_main::v2::types::DiscussionPage => datagouv_main::v2::types::DiscussionRead,
    datagouv_main::v2::types::OrganizationSearchPage => datagouv_main::v2::types::OrganizationRead,
    datagouv_main::v2::types::PostPage => datagouv_main::v2::types::PostRead,
    datagouv_main::v2::types::ResourcePage => datagouv_main::v2::types::Resource,
    datagouv_main::v2::types::ReusePage => datagouv_main::v2::types::Reuse,
    datagouv_main::v2::types::ReuseSearchPage => datagouv_main::v2::types::Reuse,
    datagouv_main::v2::types::TopicElementPage => datagouv_main::v2::types::TopicElementRead,
    datagouv_main::v2::types::TopicPage => datagouv_main::v2::types::Topic,
    datagouv_main::v2::types::TopicSearchPage => datagouv_main::v2::types::Topic,
}

type PageFuture<P> = Pin<Box<dyn Future<Output = Result<P, Error>> + Send>>;

/// Lists a Main API collection page by page, lazily.
///
/// `fetch` sends the request for one page number (1-based), typically a
/// generated builder with `.page(n)`:
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
/// .map_ok(|dataset| dataset.title.unwrap_or_default())
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
            fetch: Box::new(move |page| {
                let call = fetch(page);
                Box::pin(async move {
                    match call.await {
                        Ok(value) => Ok(value.into_inner()),
                        Err(error) => Err(Error::from_generated(error).await),
                    }
                })
            }),
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
    /// still arrive in order. 0, the default, requests one page at a time.
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
            let first = fetch(1).await;
            let rest: Pin<Box<dyn Stream<Item = Result<P, Error>> + Send>> = match &first {
                Ok(page) if !page.is_empty() && page.has_next() => {
                    let last = last_page(page, max_items);
                    match last {
                        Some(last) if prefetch > 0 => {
                            let calls: Vec<PageFuture<P>> = (2..=last).map(&mut fetch).collect();
                            Box::pin(stream::iter(calls).buffered(prefetch).take_while(|page| {
                                futures::future::ready(
                                    page.as_ref().map_or(true, |p| !p.is_empty()),
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
            Some(number) if last.is_none_or(|last| number <= last) => Some((number, fetch(number))),
            _ => None,
        };
        async move {
            let (number, call) = call?;
            let page = call.await;
            let more = match &page {
                Ok(page) => !page.is_empty() && page.has_next(),
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
        let page = datagouv_main::v1::types::DatasetPage {
            data: Some(vec![Default::default(); 20]),
            next_page: Some("next".into()),
            page: Some(1),
            page_size: Some(20),
            previous_page: None,
            total: Some(101),
        };
        assert_eq!(last_page(&page, None), Some(6));
        assert_eq!(last_page(&page, Some(40)), Some(2));
        assert_eq!(last_page(&page, Some(41)), Some(3));
    }

    #[test]
    fn every_page_type_of_the_specs_is_paginated() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../datagouv-main/spec");
        for (version, file) in [("v1", "v1.json"), ("v2", "v2.json")] {
            let spec: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(root.join(file)).unwrap()).unwrap();
            for (name, schema) in spec["components"]["schemas"].as_object().unwrap() {
                let properties = &schema["properties"];
                if properties.get("data").is_some() && properties.get("next_page").is_some() {
                    let path = format!("datagouv_main::{version}::types::{name}");
                    let implemented = PAGE_TYPES.iter().any(|t| t.replace(' ', "") == path);
                    assert!(implemented, "{path} has no Page implementation");
                }
            }
        }
    }
}
