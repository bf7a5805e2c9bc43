//! Every list operation the code generation found (v1 and v2) streamed with
//! `.pages()` and `.items()` against the real udata of the local stack: the
//! pages add up to the `total` the server announces, and so do the items
//! with prefetch. The walk must name every operation in the generated
//! `LIST_OPERATIONS`; a list added upstream fails here until it is walked.

use datagouv::{Client, ListExt, Page};
use datagouv_tests::Stack;
use futures::TryStreamExt;
use std::collections::BTreeSet;

/// Streams one list completely, both ways, with pages of 2; returns its total.
/// Other tests write to udata meanwhile (activity, discussions…): a walk
/// during which the list's total changed is made again, up to 5 times.
async fn walk<L: ListExt + Clone>(api: &str, list: L, walked: &mut BTreeSet<String>) -> u64 {
    let name = format!("{api}::{}", L::OPERATION_ID);
    for attempt in 1..=5 {
        let (total, counted, pages, items, holes) = walk_once(&name, list.clone()).await;
        let after = walk_total(&name, list.clone()).await;
        if after != total && attempt < 5 {
            continue;
        }
        // udata counts in `total` items it then leaves out of their page
        // (activities of deleted objects): pages short before the last one.
        // Every page is still walked, and the items are the pages' items.
        if holes == 0 {
            assert_eq!(counted, total, "{name}: the pages hold `total` items");
        } else {
            assert!(
                counted < total,
                "{name}: {holes} short pages, yet {counted} of {total} items"
            );
        }
        assert_eq!(
            pages,
            total.div_ceil(2).max(1),
            "{name}: one page of 2 per 2 items"
        );
        assert_eq!(
            items, counted,
            "{name}: the items stream yields the pages' items"
        );
        assert!(walked.insert(name.clone()), "{name} walked twice");
        return total;
    }
    unreachable!("the last attempt asserts")
}

/// One walk: the first page's total, the items the pages held, the pages,
/// the items of the prefetching stream, the pages short of 2 items before
/// the last one.
async fn walk_once<L: ListExt + Clone>(name: &str, list: L) -> (u64, u64, u64, u64, u64) {
    let pages: Vec<L::Page> = list
        .clone()
        .pages()
        .try_collect()
        .await
        .unwrap_or_else(|error| panic!("{name}: {error}"));
    let total = pages
        .first()
        .and_then(Page::total)
        .unwrap_or_else(|| panic!("{name}: the first page announces no total"));
    let counted: usize = pages.iter().map(Page::len).sum();
    let items: Vec<_> = list
        .items()
        .prefetch(3)
        .try_collect()
        .await
        .unwrap_or_else(|error| panic!("{name} (items): {error}"));
    let holes = pages
        .iter()
        .rev()
        .skip(1)
        .filter(|page| page.len() < 2)
        .count();
    (
        total,
        counted as u64,
        pages.len() as u64,
        items.len() as u64,
        holes as u64,
    )
}

/// The list's total now (its first page).
async fn walk_total<L: ListExt + Clone>(name: &str, list: L) -> u64 {
    let first: Option<L::Page> = list
        .pages()
        .try_next()
        .await
        .unwrap_or_else(|error| panic!("{name}: {error}"));
    first.as_ref().and_then(Page::total).unwrap_or(0)
}

/// The first id a list holds.
async fn first_id(api: &str, list: &str) -> String {
    let url = format!("{api}/{list}/?page_size=1");
    let page: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    page["data"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no {list} in the fixtures"))
        .to_owned()
}

#[tokio::test]
async fn every_generated_list_streams_completely_against_udata() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    // The admin key: notifications and `me` lists answer only to a user.
    let client = Client::builder()
        .main_url(stack.get("UDATA_BASE_URL"))
        .api_key(stack.get("ADMIN_KEY"))
        .build()
        .unwrap();
    let dataset = stack.get("SPATIAL_DATASET_ID").to_owned();
    let organization = stack.get("USER_ORG_ID").to_owned();
    let user = stack.get("ADMIN_ID").to_owned();
    let (source, job) = (stack.get("HARVEST_SOURCE_ID"), stack.get("HARVEST_JOB_ID"));
    let topic = stack.get("TOPIC_ID").to_owned();
    let reuse = first_id(stack.get("UDATA_URL"), "reuses").await;
    let dataservice = first_id(stack.get("UDATA_URL"), "dataservices").await;
    let (main, v2) = (client.main(), client.main_v2());

    let mut walked = BTreeSet::new();
    let mut totals = Vec::new();
    macro_rules! lists {
        ($($api:ident: $list:expr;)*) => {$(
            totals.push((stringify!($list), walk(stringify!($api), $list.page_size(2u64), &mut walked).await));
        )*};
    }
    lists! {
        v1: main.activity();
        v1: main.list_dataservices();
        v1: main.list_dataservice_followers().id(dataservice.as_str());
        v1: main.list_datasets();
        v1: main.list_community_resources();
        v1: main.list_dataset_followers().id(dataset.as_str());
        v1: main.list_discussions();
        v1: main.list_harvest_job_items().job(job);
        v1: main.list_harvest_jobs().source(source);
        v1: main.list_harvest_sources();
        v1: main.list_notifications();
        v1: main.list_notification_settings();
        v1: main.list_organizations();
        v1: main.list_organization_followers().id(organization.as_str());
        v1: main.get_organization_contact_point().org(organization.as_str());
        v1: main.list_organization_datasets().org(organization.as_str());
        v1: main.list_posts();
        v1: main.list_reports();
        v1: main.list_reuses();
        v1: main.list_reuse_followers().id(reuse.as_str());
        v1: main.list_users();
        v1: main.list_user_followers().id(user.as_str());
        v1: main.get_user_contact_point().user(user.as_str());
        v1: main.list_visualizations();
        v2: v2.search_dataservices();
        v2: v2.list_datasets();
        v2: v2.search_datasets();
        v2: v2.list_resources().dataset(dataset.as_str());
        v2: v2.search_discussions();
        v2: v2.my_org_topics();
        v2: v2.search_organizations();
        v2: v2.search_posts();
        v2: v2.list_reuses();
        v2: v2.search_reuses();
        v2: v2.get_topics_api();
        v2: v2.search_topics();
        v2: v2.topic_elements().topic(topic.as_str());
    }

    let generated: BTreeSet<String> = datagouv::main_api::v1::LIST_OPERATIONS
        .iter()
        .map(|id| format!("v1::{id}"))
        .chain(
            datagouv::main_api::v2::LIST_OPERATIONS
                .iter()
                .map(|id| format!("v2::{id}")),
        )
        .collect();
    assert_eq!(
        walked, generated,
        "the walk covers exactly the generated list operations"
    );
    let items: u64 = totals.iter().map(|(_, total)| total).sum();
    let empty: Vec<_> = totals
        .iter()
        .filter(|(_, total)| *total == 0)
        .map(|(name, _)| *name)
        .collect();
    eprintln!(
        "{} lists, {items} items; empty in the fixtures: {empty:?}",
        totals.len()
    );
    assert!(items > 100, "the fixtures hold real lists");
}

#[tokio::test]
async fn masked_answers_still_decode_because_the_mask_keeps_the_required_fields() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let client = Client::builder()
        .main_url(stack.get("UDATA_BASE_URL"))
        .build()
        .unwrap();
    let plain: Vec<_> = client
        .main()
        .list_datasets()
        .page_size(5u64)
        .items()
        .max_items(5)
        .try_collect()
        .await
        .unwrap();

    // A mask naming one field of the items only: the page's own required
    // fields and the items' are added, so the answer decodes.
    let masked = client.with_fields("data{slug,resources{format}}").unwrap();
    let datasets: Vec<_> = masked
        .main()
        .list_datasets()
        .page_size(5u64)
        .items()
        .max_items(5)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(datasets.len(), plain.len());
    for (masked, plain) in datasets.iter().zip(&plain) {
        assert_eq!(
            (&masked.id, &masked.title, &masked.slug),
            (&plain.id, &plain.title, &plain.slug)
        );
        assert!(
            masked.organization.is_none() && masked.acronym.is_none(),
            "fields not asked for stay out"
        );
    }

    // One object, with a nested mask narrowing the resources.
    let id = plain[0].id.as_str();
    let dataset = masked_get(
        &client.with_fields("description,resources{format}").unwrap(),
        id,
    )
    .await;
    assert_eq!(dataset.title, plain[0].title);
    assert!(dataset.tags.is_empty() || !plain[0].tags.is_empty());
    for resource in &dataset.resources {
        assert!(
            !resource.id.is_empty() && !resource.url.is_empty(),
            "required resource fields kept"
        );
    }
}

async fn masked_get(client: &Client, id: &str) -> datagouv::Dataset {
    use datagouv::SendExt;
    client
        .main()
        .get_dataset()
        .dataset(id)
        .send()
        .value()
        .await
        .unwrap()
}

/// A mask that leaves out the page fields (`next_page`, `page_size`) must
/// not end the list after its first page: the transport keeps the fields
/// the paginator reads, with and without prefetch.
#[tokio::test]
async fn a_field_mask_does_not_cut_pagination_short() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let client = Client::builder()
        .main_url(stack.get("UDATA_BASE_URL"))
        .build()
        .unwrap();
    let total = client
        .main()
        .list_organizations()
        .page_size(1u64)
        .pages()
        .try_next()
        .await
        .unwrap()
        .and_then(|page| page.total())
        .unwrap();
    assert!(total > 7, "the fixtures hold more than one page of 7");
    let masked = client.with_fields("data{id,name},total").unwrap();
    for prefetch in [0, 3] {
        let organizations: Vec<_> = masked
            .main()
            .list_organizations()
            .page_size(7u64)
            .items()
            .prefetch(prefetch)
            .try_collect()
            .await
            .unwrap();
        assert_eq!(
            organizations.len() as u64,
            total,
            "masked list, prefetch {prefetch}"
        );
        assert!(organizations.iter().all(|o| o.acronym.is_none()));
    }
}
