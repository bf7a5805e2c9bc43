//! Publishing against the real udata: a dataset's whole life, uploads
//! (single and chunked), verified downloads, and writes under faults.

use crate::fault_server::{Action, FaultServer};
use datagouv::{
    Checksum, ChecksumKind, Client, DatasetDraft, DownloadOptions, DownloadSource, ResourceUpload,
    RetryPolicy, SendExt, UploadOptions, UploadSource,
};
use datagouv_tests::Stack;
use serde_json::json;
use sha1::{Digest, Sha1};

fn user_client(stack: &Stack, main_url: &str) -> Client {
    Client::builder()
        .main_url(main_url)
        .api_key(stack.get("USER_KEY"))
        .build()
        .unwrap()
}

/// Deterministic bytes: a CSV of `rows` lines.
fn csv_bytes(rows: usize) -> Vec<u8> {
    let mut text = String::from("id;label\n");
    for i in 0..rows {
        text.push_str(&format!("{i};ligne numéro {i}\n"));
    }
    text.into_bytes()
}

fn sha1_hex(bytes: &[u8]) -> String {
    Sha1::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("datagouv-publish-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn a_dataset_from_draft_to_deletion_every_step_read_back() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let client = user_client(&stack, stack.get("UDATA_BASE_URL"));
    let org = stack.get("USER_ORG_ID");
    let read = |id: String| {
        let client = client.clone();
        async move { client.main().get_dataset().dataset(id).send().value().await }
    };

    // 1. A private draft of the organization.
    let draft = DatasetDraft {
        title: "Jeu de test du SDK".into(),
        description: "Créé par les tests de datagouv-rs.".into(),
        organization: Some(org.into()),
        tags: vec!["transport".into(), "sdk-rust".into()],
        license: Some("lov2".into()),
        frequency: Some("monthly".into()),
    };
    let created = client.create_draft_dataset(draft).await.unwrap();
    let id = created.id.clone();
    let stored = read(id.clone()).await.unwrap();
    assert!(stored.private);
    assert_eq!(stored.title, "Jeu de test du SDK");
    assert_eq!(stored.description, "Créé par les tests de datagouv-rs.");
    assert_eq!(stored.license, "lov2");
    assert_eq!(stored.frequency, "monthly");
    assert_eq!(stored.tags, ["sdk-rust", "transport"]);
    assert_eq!(
        stored
            .organization
            .as_ref()
            .and_then(|o| o.id.clone())
            .as_deref(),
        Some(org)
    );

    // 2. A file uploaded in one request, then one in chunks of 64 KiB.
    let small = csv_bytes(100);
    let uploaded = client
        .upload_resource(
            ResourceUpload::NewResource { dataset: &id },
            UploadSource::reader(
                "petit.csv",
                small.len() as u64,
                std::io::Cursor::new(small.clone()),
            ),
            UploadOptions::default(),
        )
        .await
        .unwrap();
    let big = csv_bytes(20_000);
    assert!(big.len() > 4 * 64 * 1024, "several parts");
    let progress = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = progress.clone();
    let chunked = client
        .upload_resource(
            ResourceUpload::NewResource { dataset: &id },
            UploadSource::reader(
                "grand.csv",
                big.len() as u64,
                std::io::Cursor::new(big.clone()),
            ),
            UploadOptions::default()
                .chunk_size(64 * 1024)
                .on_progress(move |sent, total| seen.lock().unwrap().push((sent, total))),
        )
        .await
        .unwrap();
    let steps = progress.lock().unwrap().clone();
    assert_eq!(
        steps.len() as u64,
        (big.len() as u64).div_ceil(64 * 1024),
        "one progress call per part"
    );
    assert_eq!(steps.last().unwrap().0, big.len() as u64);

    // 3. A remote resource.
    let remote = client
        .add_remote_resource(&id, "Lien distant", "https://example.org/data.json", "json")
        .await
        .unwrap();

    let stored = read(id.clone()).await.unwrap();
    let resources = stored.resources.clone();
    let by_id = |rid: &String| resources.iter().find(|r| r.id == *rid).cloned().unwrap();
    let first = by_id(&uploaded.id);
    assert_eq!(first.title, "petit.csv");
    assert_eq!(first.filesize, Some(small.len() as i64));
    assert_eq!(first.filetype, "file");
    let second = by_id(&chunked.id);
    assert_eq!(
        second.filesize,
        Some(big.len() as i64),
        "the chunked file was assembled whole"
    );
    let checksum = second.checksum.clone().unwrap();
    assert_eq!(
        (checksum.type_.as_deref(), checksum.value.as_deref()),
        (Some("sha1"), Some(sha1_hex(&big).as_str()))
    );
    let third = by_id(&remote.id);
    assert_eq!(
        (third.url.as_str(), third.format.as_deref()),
        ("https://example.org/data.json", Some("json"))
    );

    // 4. Metadata update.
    client
        .update_dataset(
            &id,
            json!({"description": "Mise à jour.", "tags": ["transport", "velo-libre"]}),
        )
        .await
        .unwrap();
    let stored = read(id.clone()).await.unwrap();
    assert_eq!(stored.description, "Mise à jour.");
    assert_eq!(stored.tags, ["transport", "velo-libre"]);
    assert_eq!(
        stored.title, "Jeu de test du SDK",
        "fields not named are kept"
    );

    // 5. Reorder: remote first, then the chunked file, then the small one.
    let order = [remote.id.clone(), chunked.id.clone(), uploaded.id.clone()];
    let refs: Vec<&str> = order.iter().map(String::as_str).collect();
    client.reorder_resources(&id, &refs).await.unwrap();
    let stored = read(id.clone()).await.unwrap();
    let ids: Vec<String> = stored.resources.into_iter().map(|r| r.id).collect();
    assert_eq!(ids, order);

    // 6. Download the chunked file back, verified against the catalog's checksum.
    let dir = scratch("download");
    let path = dir.join("grand.csv");
    let summary = client
        .download(
            DownloadSource::Resource(order[1].clone()),
            &path,
            DownloadOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), big);
    assert_eq!(summary.verified.map(|c| c.kind), Some(ChecksumKind::Sha1));

    // A wrong checksum: a clear error, and nothing under the final name or beside it.
    let wrong = dir.join("faux.csv");
    let error = client
        .download(
            DownloadSource::Resource(order[1].clone()),
            &wrong,
            DownloadOptions::default().checksum(Checksum {
                kind: ChecksumKind::Sha1,
                value: "0".repeat(40),
            }),
        )
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("does not match its checksum"),
        "{error}"
    );
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        left,
        [std::ffi::OsString::from("grand.csv")],
        "no file from the failed download"
    );

    // 7. Publish, then read back.
    client.publish_dataset(&id).await.unwrap();
    assert!(!read(id.clone()).await.unwrap().private);

    // 8. A discussion: start, comment, close.
    let body: datagouv::main_api::v1::types::DiscussionStart = serde_json::from_value(json!({"title": "Question", "comment": "Bonjour ?", "subject": {"class": "Dataset", "id": id}})).unwrap();
    let discussion = client
        .main()
        .create_discussion()
        .body(body)
        .send()
        .value()
        .await
        .unwrap();
    let discussion_id = discussion.id;
    let reply: datagouv::main_api::v1::types::DiscussionResponse =
        serde_json::from_value(json!({"comment": "Réponse.", "close": true})).unwrap();
    client
        .main()
        .comment_discussion()
        .id(&discussion_id)
        .body(reply)
        .send()
        .value()
        .await
        .unwrap();
    let closed = client
        .main()
        .get_discussion()
        .id(&discussion_id)
        .send()
        .value()
        .await
        .unwrap();
    assert!(closed.closed.is_some() && closed.discussion.len() == 2);

    // 9. Delete: the owner still sees it, marked deleted; anyone else gets 410.
    client.delete_dataset(&id).await.unwrap();
    assert!(
        read(id.clone()).await.unwrap().deleted.is_some(),
        "marked deleted"
    );
    let anonymous = Client::builder()
        .main_url(stack.get("UDATA_BASE_URL"))
        .build()
        .unwrap();
    let gone = anonymous
        .main()
        .get_dataset()
        .dataset(&id)
        .send()
        .value()
        .await
        .unwrap_err();
    assert_eq!(gone.status().map(|s| s.as_u16()), Some(410), "{gone}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A file is streamed part by part from disk (two parts on the wire at
/// once): udata assembles it whole, with the file's SHA-1.
#[tokio::test]
async fn a_file_uploaded_in_streamed_parts_is_assembled_whole() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let client = user_client(&stack, stack.get("UDATA_BASE_URL"));
    let dataset = client
        .create_draft_dataset(DatasetDraft {
            title: "Envoi en parties".into(),
            description: "x".into(),
            ..DatasetDraft::default()
        })
        .await
        .unwrap();
    let big = csv_bytes(30_000);
    let dir = scratch("parts");
    let path = dir.join("parties.csv");
    std::fs::write(&path, &big).unwrap();
    let parts = (big.len() as u64).div_ceil(64 * 1024);
    assert!(parts > 4, "several parts, more than are in flight");
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = calls.clone();
    let uploaded = client
        .upload_resource(
            ResourceUpload::NewResource {
                dataset: &dataset.id,
            },
            UploadSource::file(&path).await.unwrap(),
            UploadOptions::default()
                .chunk_size(64 * 1024)
                .on_progress(move |_, _| {
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }),
        )
        .await
        .unwrap();
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), parts);
    let stored = client
        .main()
        .get_dataset()
        .dataset(dataset.id.clone())
        .send()
        .value()
        .await
        .unwrap();
    let resource = stored
        .resources
        .iter()
        .find(|r| r.id == uploaded.id)
        .unwrap();
    assert_eq!(resource.filesize, Some(big.len() as i64));
    let checksum = resource.checksum.clone().unwrap();
    assert_eq!(checksum.value.as_deref(), Some(sha1_hex(&big).as_str()));
    client.delete_dataset(&dataset.id).await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A file that shrinks after it was opened fails with a message naming the
/// file and the cause, after one attempt (sending again cannot help).
#[tokio::test]
async fn a_file_that_changes_during_an_upload_is_reported() {
    let server = FaultServer::start(vec![Action::json(200, r#"{"success": true}"#)]).await;
    let client = Client::builder()
        .main_url(server.url())
        .api_key("key")
        .build()
        .unwrap();
    let dir = scratch("shrinks");
    let path = dir.join("rétréci.csv");
    std::fs::write(&path, vec![b'x'; 300_000]).unwrap();
    let source = UploadSource::file(&path).await.unwrap();
    std::fs::write(&path, vec![b'x'; 100_000]).unwrap();
    let error = client
        .upload_resource(
            ResourceUpload::NewResource { dataset: "d" },
            source,
            UploadOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&error, datagouv::Error::InvalidInput(text)
            if text.contains("rétréci.csv ended 200000 bytes before its announced size")),
        "{error}"
    );
    assert!(server.received().len() <= 1, "not sent again");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_post_whose_answer_is_lost_is_reported_and_not_duplicated() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let udata: std::net::SocketAddr = stack
        .get("UDATA_BASE_URL")
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let proxy = FaultServer::start(vec![Action::ForwardThenReset(udata)]).await;
    // The proxy's origin is the API origin for this client, so the key goes to it.
    let retrying = RetryPolicy {
        initial_backoff: std::time::Duration::from_millis(10),
        ..RetryPolicy::default()
    };
    let client = Client::builder()
        .main_url(proxy.url())
        .api_key(stack.get("USER_KEY"))
        .retry_policy(retrying)
        .build()
        .unwrap();
    let title = format!("Réponse perdue {}", std::process::id());
    let draft = DatasetDraft {
        title: title.clone(),
        description: "x".into(),
        ..DatasetDraft::default()
    };
    let error = client.create_draft_dataset(draft).await.unwrap_err();
    assert!(
        error.to_string().contains("could not talk to the server"),
        "{error}"
    );
    assert_eq!(proxy.received().len(), 1, "sent once, not retried");

    let direct = user_client(&stack, stack.get("UDATA_BASE_URL"));
    let mine = direct.main().my_datasets().send().value().await.unwrap();
    let copies = mine.iter().filter(|d| d.title == title).count();
    assert_eq!(
        copies, 1,
        "the server holds exactly one dataset: the write happened once"
    );
}

#[tokio::test]
async fn an_interrupted_download_leaves_no_file() {
    let server =
        FaultServer::start(vec![Action::Truncated(1_000_000, "id;label\n1;a\n".into())]).await;
    let client = Client::builder().build().unwrap();
    let dir = scratch("interrupted");
    let path = dir.join("coupé.csv");
    let error = client
        .download(
            DownloadSource::Url(format!("{}/file.csv", server.url())),
            &path,
            DownloadOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(!error.to_string().is_empty());
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "neither the file nor its temporary copy is left"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A 4×4 PNG made by Pillow (what udata decodes images with).
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x04, 0x08, 0x02, 0x00, 0x00, 0x00, 0x26, 0x93, 0x09,
    0x29, 0x00, 0x00, 0x00, 0x14, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x3c, 0x21, 0x67, 0xc3,
    0x00, 0x03, 0x4c, 0x0c, 0x48, 0x00, 0x37, 0x07, 0x00, 0x3a, 0x34, 0x01, 0x2a, 0x3d, 0xf1, 0xe6,
    0xb3, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

#[tokio::test]
async fn images_community_resources_and_csv_exports() {
    use futures::TryStreamExt;
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let client = user_client(&stack, stack.get("UDATA_BASE_URL"));

    let image = client
        .upload_image(
            datagouv::ImageUpload::MyAvatar,
            UploadSource::reader("avatar.png", PNG.len() as u64, std::io::Cursor::new(PNG)),
            None,
        )
        .await
        .unwrap();
    assert_eq!(image.success, Some(true));
    let me = client.main().get_me().send().value().await.unwrap();
    assert!(me.avatar.is_some(), "the avatar is set");
    let logo = client
        .upload_image(
            datagouv::ImageUpload::OrganizationLogo(stack.get("USER_ORG_ID")),
            UploadSource::reader("logo.png", PNG.len() as u64, std::io::Cursor::new(PNG)),
            None,
        )
        .await
        .unwrap();
    assert!(logo.image.is_some());

    let dataset = stack.get("SPATIAL_DATASET_ID");
    let file = csv_bytes(10);
    let community = client
        .upload_community_resource(
            ResourceUpload::NewCommunityResource { dataset },
            UploadSource::reader(
                "communautaire.csv",
                file.len() as u64,
                std::io::Cursor::new(file.clone()),
            ),
            UploadOptions::default(),
        )
        .await
        .unwrap();
    let id = community.id.clone().unwrap();
    let stored = client
        .main()
        .retrieve_community_resource()
        .community(&id)
        .send()
        .value()
        .await
        .unwrap();
    assert_eq!(stored.filesize, Some(file.len() as i64));
    assert_eq!(stored.title.as_deref(), Some("communautaire.csv"));

    let export = client.main().get_site_tags_csv().send().await.unwrap();
    let media = export
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(media.starts_with("text/csv"), "{media}");
    let rows: Vec<datagouv::CsvRow> = datagouv::csv_rows(export.into_inner())
        .try_collect()
        .await
        .unwrap();
    assert!(
        rows.len() > 100
            && rows
                .iter()
                .all(|r| r.contains_key("name") && r.contains_key("total")),
        "{}",
        rows.len()
    );
}
