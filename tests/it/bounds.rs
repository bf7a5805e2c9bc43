//! Nothing out of bounds: an id or slug the caller gives stays one path
//! segment in every request the SDK builds (generated calls, uploads), and
//! `.`, `..` or an empty id are refused before anything is sent.

use crate::fault_server::{Action, FaultServer};
use datagouv::{Client, Error, ImageUpload, ResourceUpload, SendExt, UploadOptions, UploadSource};
use datagouv_tests::Stack;

const HOSTILE: [&str; 7] = [
    "../me/api_tokens",
    "../me",
    "%2e%2e",
    "..%2Fme",
    "a/b",
    "x?y#z",
    "a\\..\\me",
];

fn client(url: &str, key: &str) -> Client {
    Client::builder()
        .main_url(url)
        .api_key(key)
        .build()
        .unwrap()
}

/// Against a recording server: each hostile id reaches it as one encoded
/// segment of the dataset path; `.`, `..` and `` reach it not at all.
#[tokio::test]
async fn ids_stay_one_segment_and_dot_segments_are_refused_before_sending() {
    let server = FaultServer::start(vec![Action::json(404, r#"{"message": "nope"}"#)]).await;
    let client = client(&server.url(), "udata_bounds-key");
    for id in HOSTILE {
        let result = client.main().get_dataset().dataset(id).send().value().await;
        assert!(
            matches!(&result, Err(e) if e.status().map(|s| s.as_u16()) == Some(404)),
            "{id}: {result:?}"
        );
        let received = server.received();
        let path = &received.last().unwrap().path;
        let segment = path
            .strip_prefix("/api/1/datasets/")
            .and_then(|rest| rest.strip_suffix('/'))
            .unwrap_or_else(|| panic!("{id} left the dataset path: {path}"));
        assert!(
            !segment.contains('/') && !segment.contains('?') && !segment.contains('\\'),
            "{id}: {path}"
        );
        assert_eq!(
            percent_decode(segment),
            id,
            "{id} arrives whole, decoded by the server"
        );
    }
    let before = server.received().len();
    for id in ["..", ".", ""] {
        let result = client.main().get_dataset().dataset(id).send().value().await;
        assert!(
            matches!(result, Err(Error::InvalidInput(_))),
            "{id:?}: {result:?}"
        );
        let result = client
            .main()
            .update_dataset()
            .dataset(id)
            .body(
                serde_json::from_value::<datagouv::main_api::v1::types::DatasetWrite>(
                    serde_json::json!({"title": "x"}),
                )
                .unwrap(),
            )
            .send()
            .value()
            .await;
        assert!(
            matches!(result, Err(Error::InvalidInput(_))),
            "{id:?}: {result:?}"
        );
        let upload = client
            .upload_resource(
                ResourceUpload::NewResource { dataset: id },
                UploadSource::reader("a.csv", 2, &b"a\n"[..]),
                UploadOptions::default(),
            )
            .await;
        assert!(
            matches!(upload, Err(Error::InvalidInput(_))),
            "{id:?}: {upload:?}"
        );
        let image = client
            .upload_image(
                ImageUpload::OrganizationLogo(id),
                UploadSource::reader("a.png", 2, &b"ab"[..]),
                None,
            )
            .await;
        assert!(
            matches!(image, Err(Error::InvalidInput(_))),
            "{id:?}: {image:?}"
        );
    }
    assert_eq!(
        server.received().len(),
        before,
        "nothing was sent for . .. or ''"
    );
}

/// Against the real udata, with a sysadmin key: no hostile dataset id
/// answers with another endpoint's data (the key's tokens, the profile).
#[tokio::test]
async fn hostile_ids_never_reach_another_endpoint_of_udata() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let client = client(stack.get("UDATA_BASE_URL"), stack.get("ADMIN_KEY"));
    for id in HOSTILE.iter().chain(&["..", "."]) {
        let result = client
            .main()
            .get_dataset()
            .dataset(*id)
            .send()
            .value()
            .await;
        match result {
            Err(Error::InvalidInput(_)) => {}
            Err(error) if error.status().map(|s| s.as_u16()) == Some(404) => {}
            other => panic!("{id}: expected a refusal or a 404, got {other:?}"),
        }
        let Ok(segment) = datagouv::path_segment(id) else {
            continue;
        };
        let raw = client
            .raw(reqwest::Method::GET, &format!("datasets/{segment}/"), None)
            .await;
        if let Ok(response) = raw {
            let body = response.text().await.unwrap_or_default();
            panic!("{id}: a raw call through path_segment answered: {body:.200}");
        }
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}
