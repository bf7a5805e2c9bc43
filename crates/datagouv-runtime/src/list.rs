//! What the code generation derives for every Main API list: [`Page`] for
//! each page type (`{data, page, page_size, total, next_page, …}`) and
//! [`ListOperation`] for each builder whose answer is such a page.
//!
//! The generated implementations read the page fields through
//! [`ListField`], [`CountField`] and [`NextField`], so the same generated
//! code serves a field whether the spec makes it required or optional.

use crate::BoxFuture;
use progenitor_client::{Error, ResponseValue};

/// One page of a list, whatever the listed type.
pub trait Page: Send + 'static {
    /// The listed type.
    type Item: Send + 'static;
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

/// The answer to the request for one page.
pub type PageResult<P> = Result<ResponseValue<P>, Error<()>>;

/// Sends the request for one page number (1-based) of a list, with every
/// other parameter as the builder had it. The futures own what they need,
/// so they can run on any task.
pub type PageFetcher<P> = Box<dyn FnMut(u64) -> BoxFuture<'static, PageResult<P>> + Send>;

/// A generated request builder whose answer is one page of a list.
pub trait ListOperation {
    /// The page type the operation answers.
    type Page: Page;
    /// The operation's id in the spec (`list_datasets`).
    const OPERATION_ID: &'static str;
    /// The request for any page number, other parameters kept.
    fn into_page_fetcher(self) -> PageFetcher<Self::Page>;
}

/// The `data` field of a page, required or optional.
pub trait ListField {
    /// The listed type.
    type Item;
    /// The items (none when the field is absent).
    fn into_vec(self) -> Vec<Self::Item>;
    /// How many items.
    fn count(&self) -> usize;
}

impl<T> ListField for Vec<T> {
    type Item = T;
    fn into_vec(self) -> Vec<T> {
        self
    }
    fn count(&self) -> usize {
        self.len()
    }
}

impl<T> ListField for Option<Vec<T>> {
    type Item = T;
    fn into_vec(self) -> Vec<T> {
        self.unwrap_or_default()
    }
    fn count(&self) -> usize {
        self.as_ref().map_or(0, Vec::len)
    }
}

/// A count field of a page (`total`, `page_size`), required or optional.
pub trait CountField {
    /// The count, when present and not negative.
    fn get(&self) -> Option<u64>;
}

impl CountField for i64 {
    fn get(&self) -> Option<u64> {
        u64::try_from(*self).ok()
    }
}

impl CountField for u64 {
    fn get(&self) -> Option<u64> {
        Some(*self)
    }
}

impl<T: CountField> CountField for Option<T> {
    fn get(&self) -> Option<u64> {
        self.as_ref().and_then(CountField::get)
    }
}

/// The `next_page` field of a page: a URL, empty or absent on the last page.
pub trait NextField {
    /// Whether a next page is announced.
    fn announced(&self) -> bool;
}

impl NextField for String {
    fn announced(&self) -> bool {
        !self.is_empty()
    }
}

impl NextField for Option<String> {
    fn announced(&self) -> bool {
        self.as_deref().is_some_and(|next| !next.is_empty())
    }
}
