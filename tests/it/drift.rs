//! API drift: the surface of every normalised document is snapshotted, and
//! the committed normalised documents must be what the normaliser makes of
//! the committed upstream documents. A change upstream (after
//! `cargo xtask fetch`) shows up here as a reviewable snapshot diff.

use serde_json::Value;
use std::fs;
use xtask::{
    apis::{Api, UPSTREAM_DIR},
    normalize::{normalize, parse_document, render},
    surface::surface,
};

fn read(path: &str) -> String {
    let root = datagouv_tests::workspace_root();
    fs::read_to_string(root.join(path)).unwrap_or_else(|err| panic!("reading {path}: {err}"))
}

fn upstream(api: Api) -> Value {
    let root = datagouv_tests::workspace_root();
    let path = ["json", "yaml"]
        .iter()
        .map(|ext| format!("{UPSTREAM_DIR}/{}.{ext}", api.upstream_stem()))
        .find(|path| root.join(path).exists())
        .expect("an upstream document is committed for every API");
    parse_document(&read(&path)).expect("upstream documents parse")
}

#[test]
fn surfaces_match_their_snapshots() {
    for api in Api::ALL {
        let doc = parse_document(&read(api.normalized_path())).unwrap();
        insta::assert_snapshot!(api.key(), surface(&doc));
    }
}

#[test]
fn committed_normalised_documents_are_current() {
    let root = datagouv_tests::workspace_root();
    for api in Api::ALL {
        let fresh = render(&normalize(api, &upstream(api), &root).unwrap());
        assert!(
            fresh == read(api.normalized_path()),
            "{} is stale: run `cargo xtask fetch --from specs/upstream` and commit the result",
            api.normalized_path()
        );
    }
}

/// The snapshot as committed, without insta's header.
fn committed_snapshot(api: Api) -> String {
    let text = read(&format!("tests/it/snapshots/it__drift__{}.snap", api.key()));
    let body = text
        .splitn(3, "---\n")
        .nth(2)
        .expect("insta snapshots start with a header");
    body.to_owned()
}

#[test]
fn editing_one_upstream_field_shows_as_a_snapshot_diff_naming_it() {
    let root = datagouv_tests::workspace_root();
    let mut edited = upstream(Api::MainV1);
    edited["definitions"]["Dataset (read)"]["properties"]["title"]["type"] = "integer".into();
    let changed = surface(&normalize(Api::MainV1, &edited, &root).unwrap());

    let committed = committed_snapshot(Api::MainV1);
    let unedited = surface(&normalize(Api::MainV1, &upstream(Api::MainV1), &root).unwrap());
    assert!(
        committed.trim_end() == unedited.trim_end(),
        "the committed main-v1 snapshot is stale: run `cargo insta review` after `cargo test`"
    );
    let diff = similar::TextDiff::from_lines(committed.trim_end(), changed.trim_end());
    let lines: Vec<String> = diff
        .iter_all_changes()
        .filter(|change| change.tag() != similar::ChangeTag::Equal)
        .map(|change| format!("{}{}", change.tag(), change.value().trim_end()))
        .collect();
    assert_eq!(
        lines,
        ["-  title: string", "+  title: integer"],
        "diff: {lines:#?}"
    );
}
