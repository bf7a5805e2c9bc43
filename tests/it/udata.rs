//! Every GET operation of the Main API (v1 and v2) against the real udata of
//! the local stack: every list and every page of it, the detail of every
//! object in the fixtures and their sub-resources. Each JSON answer is
//! decoded into the generated type the normalised document names for it;
//! each raw answer must carry one of the declared media types. The walk
//! writes which operations were proven, and why the others were not, to
//! `target/real-server-coverage/main-*.md` (copied to `tests/COVERAGE.md`).

use datagouv_tests::{OperationRecord, Stack, coverage_table};
use heck::ToUpperCamelCase;
use reqwest::blocking::Client;
use serde_json::Value;
use std::{
    collections::BTreeMap,
    sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};
use xtask::normalize::parse_document;

/// Decodes a body into the generated type of that (typify) name.
type Decoder = fn(&str, &[u8]) -> Option<Result<(), String>>;

macro_rules! decoder {
    ($module:path; $($ty:ident),* $(,)?) => {{
        fn decode(name: &str, body: &[u8]) -> Option<Result<(), String>> {
            use $module as types;
            match name {
                $(stringify!($ty) => Some(serde_json::from_slice::<types::$ty>(body).map(drop).map_err(|e| e.to_string())),)*
                _ => None,
            }
        }
        decode as Decoder
    }};
}

fn decoder_v1() -> Decoder {
    decoder!(datagouv_main::v1::types;
        ActivityPage, ApiTokenRead, AssignmentRead, CatalogSchema, ChartPage, ChartRead, CommunityResource,
        CommunityResourcePage, ContactPointPage, DatasetReference, ContactPointRead, ContactPointRoles, DataservicePage,
        DataserviceRead, DataserviceSuggestion, Dataset, DatasetPage, DatasetSuggestion, DiscussionPage,
        DiscussionRead, FollowPage, Frequency, GeoGranularity, GeoJsonFeatureCollection, GeoLevel,
        GeopfDatasetStatus, GeopfDatastore, GeopfStatus, HarvestBackend, HarvestItemPage, HarvestJobPage,
        HarvestJobPreview, HarvestJobRead, HarvestSourcePage, HarvestSourceRead, License, MembershipRequest,
        MyMetrics, NotificationPage, NotificationResolved, NotificationSettingPage, OrganizationPage,
        OrganizationRead, OrganizationRole, OrganizationSuggestion, PendingInvitation, PeriodicTaskRead,
        PostPage, PostRead, ReasonCategory, ReportPage, ReportRead, Resource, ResourceType, ReusePage,
        ReuseRead, ReuseSuggestion, ReuseTopic, ReuseType, SiteRead, Task, TerritorySuggestion,
        TextSuggestion, Transfer, UserPage, UserRead, UserRole, UserSuggestion,
    )
}

fn decoder_v2() -> Decoder {
    decoder!(datagouv_main::v2::types;
        DataserviceSearchPage, Dataset, DatasetPage, DatasetSearchPage, DiscussionPage, PostPage, ReusePage, OrganizationSearchPage, ResourcePage,
        ReuseSearchPage, Schema, SpecificResource, Topic, TopicElementPage, TopicPage, TopicSearchPage,
    )
}

/// What a successful answer of an operation must look like.
enum Expected {
    /// JSON of a named component type.
    Named(String),
    /// JSON list of a named component type.
    ListOf(String),
    /// JSON of an inline schema (a map, a list of strings): any valid JSON.
    AnyJson,
    /// Raw bytes of one of these media types.
    Raw(Vec<String>),
}

fn expected(op: &Value) -> Expected {
    let content = op
        .pointer("/responses/2XX/content")
        .and_then(Value::as_object);
    let Some(content) = content else {
        return Expected::Raw(Vec::new());
    };
    match content
        .get("application/json")
        .and_then(|m| m.get("schema"))
    {
        Some(schema) => {
            let name_of = |s: &Value| {
                s.get("$ref")
                    .and_then(Value::as_str)
                    .map(|r| r.rsplit('/').next().unwrap().to_owned())
            };
            if let Some(name) = name_of(schema) {
                Expected::Named(name)
            } else if let Some(name) = schema.get("items").and_then(name_of) {
                Expected::ListOf(name)
            } else {
                Expected::AnyJson
            }
        }
        None => Expected::Raw(content.keys().cloned().collect()),
    }
}

/// Ids of the fixture objects, gathered from the list endpoints.
#[derive(Default)]
struct Fixtures {
    ids: BTreeMap<&'static str, Vec<String>>,
    resources: BTreeMap<String, Vec<String>>,
    /// Query strings some operations need to answer at all.
    extra_query: BTreeMap<&'static str, String>,
}

impl Fixtures {
    fn of(&self, kind: &str) -> Vec<String> {
        self.ids.get(kind).cloned().unwrap_or_default()
    }
}

struct Walker {
    client: Client,
}

impl Walker {
    fn new(key: &str) -> Walker {
        let mut headers = reqwest::header::HeaderMap::new();
        let mut value = reqwest::header::HeaderValue::from_str(key).unwrap();
        value.set_sensitive(true);
        headers.insert("X-API-KEY", value);
        // Follow redirects on this machine only: resources point at hosts we cannot reach.
        let policy = reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() < 5 && attempt.url().host_str() == Some("127.0.0.1") {
                attempt.follow()
            } else {
                attempt.stop()
            }
        });
        let client = Client::builder()
            .default_headers(headers)
            .redirect(policy)
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        Walker { client }
    }

    fn get(&self, url: &str) -> Result<(u16, String, Vec<u8>), String> {
        let response = self
            .client
            .get(url)
            .send()
            .map_err(|e| format!("request failed: {e}"))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response
            .bytes()
            .map_err(|e| format!("reading body: {e}"))?
            .to_vec();
        Ok((status, content_type, body))
    }

    /// Every item of every page of a list answer (`data` of udata pages,
    /// or the array itself).
    fn all_items(&self, first: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut next = Some(first.to_owned());
        while let Some(url) = next.take() {
            let Ok((200, _, body)) = self.get(&url) else {
                break;
            };
            let page: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            match &page {
                Value::Array(list) => items.extend(list.iter().cloned()),
                _ => {
                    items.extend(page["data"].as_array().cloned().unwrap_or_default());
                    next = page["next_page"].as_str().map(str::to_owned);
                }
            }
        }
        items
    }

    fn gather(&self, v1: &str, v2: &str) -> Fixtures {
        let mut fixtures = Fixtures::default();
        let id_list = |items: Vec<Value>| {
            items
                .iter()
                .filter_map(|i| i["id"].as_str().map(str::to_owned))
                .collect::<Vec<_>>()
        };
        for dataset in self.all_items(&format!("{v1}/datasets/?page_size=100")) {
            let id = dataset["id"].as_str().unwrap_or_default().to_owned();
            let rids = dataset["resources"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["id"].as_str().map(str::to_owned))
                .collect();
            fixtures.resources.insert(id.clone(), rids);
            fixtures.ids.entry("datasets").or_default().push(id);
            for contact in dataset["contact_points"].as_array().into_iter().flatten() {
                if let Some(id) = contact["id"].as_str() {
                    fixtures
                        .ids
                        .entry("contacts")
                        .or_default()
                        .push(id.to_owned());
                }
            }
        }
        let lists: [(&'static str, String); 12] = [
            (
                "organizations",
                format!("{v1}/organizations/?page_size=100"),
            ),
            ("reuses", format!("{v1}/reuses/?page_size=100")),
            ("dataservices", format!("{v1}/dataservices/?page_size=100")),
            ("discussions", format!("{v1}/discussions/?page_size=100")),
            ("posts", format!("{v1}/posts/?page_size=100")),
            ("users", format!("{v1}/users/?page_size=100")),
            (
                "community",
                format!("{v1}/datasets/community_resources/?page_size=100"),
            ),
            ("reports", format!("{v1}/reports/?page_size=100")),
            (
                "visualizations",
                format!("{v1}/visualizations/?page_size=100"),
            ),
            ("worker_jobs", format!("{v1}/workers/jobs/")),
            ("levels", format!("{v1}/spatial/levels/")),
            ("topics", format!("{v2}/topics/?page_size=100")),
        ];
        for (kind, url) in lists {
            fixtures.ids.insert(kind, id_list(self.all_items(&url)));
        }
        let sources: Vec<Value> = self
            .all_items(&format!("{v1}/harvest/sources/?page_size=100"))
            .into_iter()
            .flat_map(|item| {
                item["data"]
                    .as_array()
                    .cloned()
                    .unwrap_or_else(|| vec![item])
            })
            .collect();
        let sources = id_list(sources);
        let mut jobs = Vec::new();
        for source in &sources {
            jobs.extend(id_list(
                self.all_items(&format!("{v1}/harvest/source/{source}/jobs/")),
            ));
        }
        fixtures.ids.insert("harvest_sources", sources);
        fixtures.ids.insert("harvest_jobs", jobs);
        fixtures.ids.insert(
            "zones",
            vec!["fr:commune:75056".into(), "country:fr".into()],
        );
        fixtures
    }
}

/// The values a path parameter takes, by the path it is in and its name.
fn candidates(
    path: &str,
    name: &str,
    bound: &BTreeMap<String, String>,
    fixtures: &Fixtures,
) -> Result<Vec<String>, String> {
    let first = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default();
    let kind = match (first, name) {
        (_, "dataset") => "datasets",
        ("datasets", "rid") => {
            return Ok(match bound.get("dataset") {
                Some(dataset) => fixtures.resources.get(dataset).cloned().unwrap_or_default(),
                None => fixtures.resources.values().flatten().cloned().collect(),
            });
        }
        ("datasets", "id") if path.starts_with("/datasets/r/") => {
            return Ok(fixtures.resources.values().flatten().cloned().collect());
        }
        ("datasets", "id") => "datasets",
        (_, "org") | ("organizations", "id") => "organizations",
        (_, "reuse") | ("reuses", "id") => "reuses",
        (_, "dataservice") | ("dataservices", "id") => "dataservices",
        ("discussions", "id") => "discussions",
        (_, "user") | ("users", "id") => "users",
        (_, "post") => "posts",
        (_, "community") => "community",
        (_, "report") => "reports",
        ("transfer", "id") => "transfers",
        (_, "visualization") => "visualizations",
        ("workers", "id") if path.starts_with("/workers/jobs/") => "worker_jobs",
        (_, "source") => "harvest_sources",
        (_, "job") => "harvest_jobs",
        (_, "topic") => "topics",
        (_, "contact_point") => "contacts",
        (_, "level") => "levels",
        ("spatial", "id") => "zones",
        ("spatial", "ids") => return Ok(vec!["fr:commune:75056,country:fr".into()]),
        (_, "identifier") => return Ok(vec!["datagouv-rs".into()]),
        (_, "size") => return Ok(vec!["64".into()]),
        (_, "_format" | "path_format") => {
            return Ok(["json", "jsonld", "xml", "rdf", "ttl", "n3", "nt", "trig"]
                .iter()
                .map(|s| s.to_string())
                .collect());
        }
        _ => return Err(format!("no fixture source for path parameter `{name}`")),
    };
    let values = fixtures.of(kind);
    if values.is_empty() {
        return Err(format!("the fixtures hold no {kind}"));
    }
    Ok(values)
}

/// Every concrete URL of a path template.
fn expand(path: &str, fixtures: &Fixtures) -> Result<Vec<String>, String> {
    let mut results = vec![(path.to_owned(), BTreeMap::new())];
    while let Some(start) = results[0].0.find('{') {
        let end = results[0].0[start..].find('}').unwrap() + start;
        let name = results[0].0[start + 1..end].to_owned();
        let mut next = Vec::new();
        for (partial, bound) in &results {
            for value in candidates(path, &name, bound, fixtures)? {
                let mut bound = bound.clone();
                bound.insert(name.clone(), value.clone());
                next.push((partial.replacen(&format!("{{{name}}}"), &value, 1), bound));
            }
        }
        if next.is_empty() {
            return Err(format!("no value for `{name}`"));
        }
        results = next;
    }
    Ok(results.into_iter().map(|(p, _)| p).collect())
}

/// Values for required query parameters the fixtures do not give.
fn required_query(op: &Value, given: &str) -> String {
    let mut query = Vec::new();
    for parameter in op["parameters"].as_array().into_iter().flatten() {
        let name = parameter["name"].as_str().unwrap_or_default();
        if parameter["in"] == "query"
            && parameter["required"] == true
            && !given.contains(&format!("{name}="))
        {
            let value = match name {
                "q" => "paris",
                _ => "1",
            };
            query.push(format!("{}={value}", parameter["name"].as_str().unwrap()));
        }
    }
    query.join("&")
}

struct Job {
    operation: String,
    url: String,
    paged: bool,
}

/// Which server a walk talks to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Server {
    /// The real udata: every fixture object, every page.
    Udata,
    /// Prism on the normalised spec: one request per operation, with `q=`
    /// where the operation searches (mongomock cannot), first page only.
    Prism,
}

/// Walks every GET of one API version; returns the records and the decode
/// failures (which fail the test).
fn walk(
    walker: &Walker,
    spec: &Value,
    base: &str,
    decode: Decoder,
    fixtures: &Fixtures,
    server: Server,
) -> (BTreeMap<String, OperationRecord>, Vec<String>) {
    let records: Mutex<BTreeMap<String, OperationRecord>> = Mutex::default();
    let failures: Mutex<Vec<String>> = Mutex::default();
    let mut jobs = Vec::new();
    let mut expectations = BTreeMap::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        let Some(op) = item.get("get") else { continue };
        let operation = op["operationId"].as_str().unwrap().to_owned();
        records
            .lock()
            .unwrap()
            .entry(operation.clone())
            .or_default();
        expectations.insert(operation.clone(), expected(op));
        let has = |name: &str| {
            op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|p| p["name"] == name)
        };
        let paged = has("page") && server == Server::Udata;
        match expand(path, fixtures) {
            Ok(mut urls) => {
                if server == Server::Prism {
                    urls.truncate(1);
                }
                for url in urls {
                    let given = fixtures
                        .extra_query
                        .get(operation.as_str())
                        .cloned()
                        .unwrap_or_default();
                    let mut query = vec![required_query(op, &given), given];
                    if paged {
                        query.push("page_size=50".into());
                    }
                    if server == Server::Prism && has("q") && !query[0].contains("q=") {
                        query.push("q=transport".into());
                    }
                    let query = query
                        .into_iter()
                        .filter(|q| !q.is_empty())
                        .collect::<Vec<_>>()
                        .join("&");
                    let url = if query.is_empty() {
                        format!("{base}{url}")
                    } else {
                        format!("{base}{url}?{query}")
                    };
                    jobs.push(Job {
                        operation: operation.clone(),
                        url,
                        paged,
                    });
                }
            }
            Err(reason) => records
                .lock()
                .unwrap()
                .entry(operation)
                .or_default()
                .not_proven
                .push(reason),
        }
    }

    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                while let Some(job) = jobs.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let mut url = Some(job.url.clone());
                    while let Some(current) = url.take() {
                        let outcome = walker.get(&current);
                        let mut records = records.lock().unwrap();
                        let record = records.get_mut(&job.operation).unwrap();
                        match outcome {
                            Err(reason) => record.not_proven.push(reason),
                            Ok((status, content_type, body)) if !(200..300).contains(&status) => {
                                let excerpt: String =
                                    String::from_utf8_lossy(&body).chars().take(120).collect();
                                record.not_proven.push(format!(
                                    "HTTP {status} {}",
                                    excerpt.replace('|', "/").replace('\n', " ")
                                ));
                                let _ = content_type;
                            }
                            Ok((_, content_type, body)) => match check(
                                &expectations[&job.operation],
                                decode,
                                &content_type,
                                &body,
                            ) {
                                Ok(()) => {
                                    record.proven += 1;
                                    if job.paged {
                                        let page: Value =
                                            serde_json::from_slice(&body).unwrap_or(Value::Null);
                                        url = page["next_page"].as_str().map(str::to_owned);
                                    }
                                }
                                Err(error) => failures
                                    .lock()
                                    .unwrap()
                                    .push(format!("{} {current}: {error}", job.operation)),
                            },
                        }
                    }
                }
            });
        }
    });
    (
        records.into_inner().unwrap(),
        failures.into_inner().unwrap(),
    )
}

fn check(
    expected: &Expected,
    decode: Decoder,
    content_type: &str,
    body: &[u8],
) -> Result<(), String> {
    let typed = |name: &str, body: &[u8]| -> Result<(), String> {
        decode(&name.to_upper_camel_case(), body).unwrap_or_else(|| {
            Err(format!(
                "type {name} is missing from the test's decoder list"
            ))
        })
    };
    match expected {
        Expected::Named(name) => typed(name, body),
        Expected::ListOf(name) => {
            let items: Vec<Value> =
                serde_json::from_slice(body).map_err(|e| format!("not a JSON list: {e}"))?;
            items
                .iter()
                .try_for_each(|item| typed(name, &serde_json::to_vec(item).unwrap()))
        }
        Expected::AnyJson => serde_json::from_slice::<Value>(body)
            .map(drop)
            .map_err(|e| format!("not JSON: {e}")),
        Expected::Raw(types) => {
            let media = content_type.split(';').next().unwrap_or_default().trim();
            if types
                .iter()
                .any(|t| t == media || t == "application/octet-stream")
            {
                Ok(())
            } else {
                Err(format!("answered {media}, the document declares {types:?}"))
            }
        }
    }
}

#[test]
fn every_main_api_get_decodes_against_the_real_udata() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let walker = Walker::new(stack.get("ADMIN_KEY"));
    let (v1, v2) = (stack.get("UDATA_URL"), stack.get("UDATA_V2_URL"));
    let mut fixtures = walker.gather(v1, v2);
    // The transfer list refuses to answer without a party to list the transfers of.
    let transfers = format!("{v1}/transfer/?recipient={}", stack.get("USER_ORG_ID"));
    fixtures.ids.insert(
        "transfers",
        walker
            .all_items(&transfers)
            .iter()
            .filter_map(|t| t["id"].as_str().map(str::to_owned))
            .collect(),
    );
    fixtures.extra_query.insert(
        "list_transfers",
        format!("recipient={}", stack.get("USER_ORG_ID")),
    );
    // Notification rules are asked about subjects named `Class:id`.
    fixtures.extra_query.insert(
        "resolve_notifications",
        format!("scope=Dataset:{}", fixtures.of("datasets")[0]),
    );
    assert!(
        fixtures.of("datasets").len() >= 15,
        "the fixtures were not imported"
    );

    let root = datagouv_tests::workspace_root();
    let out_dir = root.join("target/real-server-coverage");
    std::fs::create_dir_all(&out_dir).unwrap();
    let mut all_failures = Vec::new();
    let mut summary = Vec::new();
    let prism = [stack.get("PRISM_V1_URL"), stack.get("PRISM_V2_URL")];
    let versions = [
        ("main-v1", v1, prism[0], decoder_v1()),
        ("main-v2", v2, prism[1], decoder_v2()),
    ];
    for (key, base, prism_base, decode) in versions {
        let path = if key == "main-v1" {
            "crates/datagouv-main/spec/v1.json"
        } else {
            "crates/datagouv-main/spec/v2.json"
        };
        let spec = parse_document(&std::fs::read_to_string(root.join(path)).unwrap()).unwrap();
        let (records, failures) = walk(&walker, &spec, base, decode, &fixtures, Server::Udata);
        let (mocked, mock_failures) =
            walk(&walker, &spec, prism_base, decode, &fixtures, Server::Prism);
        let answers: usize = records.values().map(|r| r.proven).sum();
        let proven = records.values().filter(|r| r.proven > 0).count();
        let only_prism = mocked
            .iter()
            .filter(|(op, r)| r.proven > 0 && records[*op].proven == 0)
            .count();
        summary.push(format!(
            "{key}: {proven}/{} GET operations proven against udata ({answers} answers decoded), {only_prism} more only against Prism",
            records.len()
        ));
        let table = coverage_table(
            &format!("{key}: GET operations against udata 17.18.0 and Prism"),
            &records,
            &mocked,
        );
        std::fs::write(out_dir.join(format!("{key}.md")), table).unwrap();
        all_failures.extend(failures);
        all_failures.extend(mock_failures.into_iter().map(|f| format!("(Prism) {f}")));
    }
    println!("{}", summary.join("\n"));
    assert!(
        all_failures.is_empty(),
        "{} answers did not decode:\n{}",
        all_failures.len(),
        all_failures.join("\n")
    );
}
