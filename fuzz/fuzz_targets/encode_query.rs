//! Any column and value: the encoded query decodes back to exactly one item
//! with the same key and value, or the query is refused.
#![no_main]

use datagouv::{Client, Op};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// Built once: a client holds a connection pool and TLS roots.
static CLIENT: OnceLock<Client> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some((column, value)) = text.split_once('\u{0}') else {
        return;
    };
    let client = CLIENT.get_or_init(|| Client::builder().build().expect("a default client builds"));
    let query = client
        .tabular_resource("10000000-0000-4000-8000-000000000001")
        .expect("a valid id");
    if let Ok(encoded) = query.filter(column, Op::Exact, value).query_string(None) {
        let items: Vec<(String, String)> = url::form_urlencoded::parse(encoded.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(items, vec![(format!("{column}__exact"), value.to_owned())]);
    }
});
