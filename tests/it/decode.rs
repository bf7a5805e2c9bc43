//! Hand-made payloads shaped like what the real servers send, decoded into
//! the generated types: nulls in any field, unknown enum values, date-only
//! temporal coverage, ID strings where the document says object, over-long
//! strings.

use chrono::NaiveDate;
use datagouv_main::v1::types::{
    DatasetPage, SpatialCoverageReadGranularity, SpatialCoverageReadZonesItem,
};
use serde_json::json;

pub(crate) fn udata_dataset() -> serde_json::Value {
    json!({
        "id": "5c4ae55a634f4117716d5656",
        "title": "Base Sirene des entreprises",
        "acronym": "x".repeat(200),
        "slug": "base-sirene",
        "description": "Répertoire des entreprises",
        "archived": null,
        "deleted": null,
        "private": false,
        "featured": false,
        "last_update": "2024-05-01T10:00:00+00:00",
        "access_type": "open",
        "access_audiences": [],
        "organization": null,
        "owner": null,
        "frequency": "every-blue-moon",
        "license": "lov2",
        "tags": [],
        "badges": [{"kind": "a-badge-kind-from-the-future"}],
        "resources": [{
            "id": "b8f1c5c2-1a3b-4d5e-8f90-123456789abc",
            "title": "sirene.csv",
            "url": "https://files.example.org/sirene.csv",
            "filetype": "file",
            "latest": "https://www.data.gouv.fr/api/1/datasets/r/b8f1c5c2-1a3b-4d5e-8f90-123456789abc",
            "created_at": "2024-05-01T10:00:00+00:00",
            "last_modified": "2024-05-01T10:00:00+00:00",
            "internal": {"created_at_internal": "2024-05-01T10:00:00+00:00", "last_modified_internal": "2024-05-01T10:00:00+00:00"},
            "type": "a-new-resource-type",
            "format": "csv",
            "filesize": null,
            "checksum": null,
            "extras": {},
            "schema": null
        }],
        "spatial": {"granularity": "fr:commune", "zones": ["fr:commune:75056"], "geom": null},
        "temporal_coverage": {"start": "2020-01-01", "end": "2020-12-31"},
        "extras": {},
        "metrics": {"views": 12, "followers": 0},
        "quality_cached": null,
        "contact_points": []
    })
}

#[test]
fn a_page_with_nulls_unknown_values_and_legacy_data_decodes() {
    let page: DatasetPage = serde_json::from_value(json!({
        "data": [udata_dataset()],
        "page": 1,
        "page_size": 20,
        "total": 1,
        "next_page": null,
        "previous_page": null
    }))
    .expect("udata-shaped page decodes");
    assert_eq!(page.next_page, None);
    let dataset = &page.data[0];
    assert_eq!(dataset.archived, None);
    assert!(dataset.organization.is_none());
    assert_eq!(dataset.frequency, "every-blue-moon");
    assert_eq!(dataset.acronym.as_ref().map(String::len), Some(200));
    assert_eq!(dataset.badges[0].kind, "a-badge-kind-from-the-future");
    assert_eq!(dataset.resources[0].type_, "a-new-resource-type");

    let spatial = dataset.spatial.as_ref().unwrap();
    assert!(
        matches!(&spatial.granularity, Some(SpatialCoverageReadGranularity::String(id)) if id == "fr:commune")
    );
    assert!(
        matches!(&spatial.zones.as_ref().unwrap()[0], SpatialCoverageReadZonesItem::String(id) if id == "fr:commune:75056")
    );

    let temporal = dataset.temporal_coverage.as_ref().unwrap();
    assert_eq!(
        temporal.start,
        Some(NaiveDate::from_ymd_opt(2020, 1, 1).unwrap())
    );
    assert_eq!(
        temporal.end,
        Some(NaiveDate::from_ymd_opt(2020, 12, 31).unwrap())
    );
}

#[test]
fn full_object_spatial_coverage_decodes_too() {
    let mut dataset = udata_dataset();
    dataset["spatial"] = json!({
        "granularity": {"id": "fr:commune", "name": "Commune"},
        "zones": [{"id": "fr:commune:75056", "name": "Paris", "code": "75056"}],
        "geom": {"type": "MultiPolygon", "coordinates": [[[[2.25, 48.81], [2.42, 48.90], [2.25, 48.81]]]]}
    });
    let page: DatasetPage =
        serde_json::from_value(json!({"data": [dataset], "page": 1, "page_size": 20, "total": 1}))
            .expect("full objects decode");
    let spatial = page.data[0].spatial.as_ref().unwrap();
    assert!(
        matches!(&spatial.granularity, Some(SpatialCoverageReadGranularity::Object(map)) if map.get("name") == Some(json!("Commune")))
    );
    assert!(spatial.geom.as_ref().unwrap().coordinates.is_some());
}

/// The fields `specs/overlay/main-v1.yaml` lists as guaranteed for `DatasetRead`.
const GUARANTEED: [&str; 15] = [
    "id",
    "title",
    "slug",
    "description",
    "last_update",
    "featured",
    "private",
    "license",
    "frequency",
    "access_type",
    "tags",
    "badges",
    "resources",
    "contact_points",
    "access_audiences",
];

#[test]
fn every_field_udata_does_not_guarantee_may_be_null() {
    let mut dataset = udata_dataset();
    for (name, value) in dataset.as_object_mut().unwrap() {
        if !GUARANTEED.contains(&name.as_str()) {
            *value = serde_json::Value::Null;
        }
    }
    let page: DatasetPage = serde_json::from_value(json!({
        "data": [dataset], "page": 1, "page_size": 20, "total": 1, "next_page": null
    }))
    .expect("nulls decode outside the guaranteed fields");
    assert_eq!(page.data[0].title, "Base Sirene des entreprises");
    assert!(page.data[0].organization.is_none());
}

#[test]
fn a_guaranteed_field_that_is_missing_is_an_error_naming_it() {
    for field in GUARANTEED {
        let mut dataset = udata_dataset();
        dataset.as_object_mut().unwrap().remove(field);
        let error = serde_json::from_value::<DatasetPage>(json!({
            "data": [dataset], "page": 1, "page_size": 20, "total": 1
        }))
        .expect_err(field);
        assert!(
            error.to_string().contains(&format!("`{field}`")),
            "{field}: {error}"
        );
    }
}

#[test]
fn tabular_aggregation_exceptions_decode_in_their_real_shape() {
    let exceptions: datagouv_tabular::types::AggregationExceptions =
        serde_json::from_value(json!({
            "allowed": false,
            "exceptions": ["aaaaaaaa-9999-bbbb-1010-cccccccccccc"]
        }))
        .unwrap();
    assert_eq!(exceptions.allowed, Some(false));
    assert_eq!(
        exceptions.exceptions.unwrap()[0].to_string(),
        "aaaaaaaa-9999-bbbb-1010-cccccccccccc"
    );
}

#[test]
fn metrics_pages_decode_with_null_links() {
    let page: datagouv_metrics::types::MetricsPage = serde_json::from_value(json!({
        "data": [{"__id": 1, "dataset_id": "abc", "metric_month": "2024-01", "monthly_visit": null}],
        "links": {"next": null, "prev": null},
        "meta": {"page": 1, "page_size": 20, "total": 1}
    }))
    .unwrap();
    assert_eq!(page.meta.unwrap().total, Some(1));
    assert_eq!(page.links.unwrap().next, None);
}
