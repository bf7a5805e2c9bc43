//! Every operation of the Tabular and Metrics APIs through the generated
//! clients, against the real api-tabular 0.4.1 of the local stack (on
//! PostgREST and PostgreSQL, with our SQL fixtures).

use datagouv_tests::Stack;
use futures::TryStreamExt;
use progenitor_client::Error;

fn rid(stack: &Stack, name: &str) -> uuid::Uuid {
    stack
        .get(&format!("RID_{name}"))
        .parse()
        .expect("fixture ids are UUIDs")
}

async fn bytes(stream: progenitor_client::ByteStream) -> Vec<u8> {
    stream
        .into_inner()
        .map_ok(|chunk| chunk.to_vec())
        .try_concat()
        .await
        .expect("body streams")
}

/// The status of an error answer, which the generated client keeps.
fn status_of<E: std::fmt::Debug>(error: Error<E>) -> u16 {
    match error {
        Error::UnexpectedResponse(response) => response.status().as_u16(),
        other => panic!("expected an error status, got {other:?}"),
    }
}

#[tokio::test]
async fn every_tabular_operation_against_api_tabular() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let client = datagouv_tabular::Client::new(stack.get("TABULAR_URL"), Default::default());

    let health = client.get_health().send().await.unwrap().into_inner();
    assert!(health.status.is_some());

    let exceptions = client
        .get_aggregation_exceptions()
        .send()
        .await
        .unwrap()
        .into_inner();
    assert!(
        exceptions
            .exceptions
            .unwrap()
            .contains(&rid(&stack, "INDEXED")),
        "the indexed fixture allows aggregation"
    );

    for name in ["TYPES", "INDEXED", "NOT_AGGREGATED", "BIG"] {
        let id = rid(&stack, name);
        let info = client
            .get_meta_resource_info()
            .rid(id)
            .send()
            .await
            .unwrap()
            .into_inner();
        assert!(info.links.is_some(), "{name}: info has links");
        let profile = client
            .get_resource_profile()
            .rid(id)
            .send()
            .await
            .unwrap()
            .into_inner();
        assert!(profile.profile.is_some(), "{name}: profile decodes");
        let page = client
            .get_resource_data()
            .rid(id)
            .send()
            .await
            .unwrap()
            .into_inner();
        assert!(
            !page.data.unwrap().is_empty(),
            "{name}: first page has rows"
        );
        let meta = page.meta.unwrap();
        assert!(meta.total.unwrap() >= 30, "{name}: total counts the rows");
        let spec = bytes(
            client
                .get_swagger_resource()
                .rid(id)
                .send()
                .await
                .unwrap()
                .into_inner(),
        )
        .await;
        assert!(
            String::from_utf8(spec)
                .unwrap()
                .contains("\nopenapi: 3.0.3"),
            "{name}: per-resource spec is YAML text"
        );
    }

    let types = rid(&stack, "TYPES");
    let csv = bytes(
        client
            .get_resource_data_csv()
            .rid(types)
            .send()
            .await
            .unwrap()
            .into_inner(),
    )
    .await;
    let csv = String::from_utf8(csv).unwrap();
    assert_eq!(
        csv.lines().filter(|l| !l.is_empty()).count(),
        31,
        "header and 30 rows"
    );
    let rows = client
        .get_resource_data_json()
        .rid(types)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rows.len(), 30);

    // Over the server's 50,000-row export cap the answer is an error status, kept intact.
    let big = client
        .get_resource_data_csv()
        .rid(rid(&stack, "BIG"))
        .send()
        .await;
    assert_eq!(status_of(big.err().expect("over the cap is an error")), 403);
    let unknown = client
        .get_meta_resource_info()
        .rid(rid(&stack, "UNKNOWN"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(unknown), 404);
    let deleted = client
        .get_resource_data()
        .rid(rid(&stack, "DELETED"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(deleted), 410);
}

#[tokio::test]
async fn every_metrics_operation_against_api_tabular() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let client = datagouv_metrics::Client::new(stack.get("METRICS_URL"), Default::default());
    assert!(
        client
            .get_health()
            .send()
            .await
            .unwrap()
            .into_inner()
            .status
            .is_some()
    );
    for model in [
        "site",
        "datasets",
        "organizations",
        "reuses",
        "resources",
        "dataservices",
    ] {
        let page = client
            .get_metrics_by_model()
            .model(model)
            .page(1)
            .page_size(5)
            .send()
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page.data.unwrap().len(), 5, "{model}: a page of 5 rows");
        assert!(page.meta.unwrap().total.unwrap() >= 36, "{model}: total");
        let csv = bytes(
            client
                .get_metrics_by_model_csv()
                .model(model)
                .send()
                .await
                .unwrap()
                .into_inner(),
        )
        .await;
        let header = String::from_utf8(csv)
            .unwrap()
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned();
        assert!(
            header.contains("metric_month"),
            "{model}: CSV header {header}"
        );
    }
    let unknown = client
        .get_metrics_by_model()
        .model("no_such_model")
        .send()
        .await
        .unwrap_err();
    assert_eq!(status_of(unknown), 404);
}
