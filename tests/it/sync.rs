//! `Client::sync` against the real udata: a dataset seeded here with two
//! files udata hosts and three remote resources on a local file host (one
//! with ETag and Range, one without, one that answers 404). The first run
//! fetches all it can and records them; the second moves no byte; a file
//! replaced through the API is the only one fetched again; a deleted
//! resource is kept and reported, then removed with `delete(true)`.

use crate::downloads::{FileServer, content, tempdir};
use crate::fault_server::{Action, FaultServer};
use datagouv::{
    Client, DatasetDraft, Manifest, ResourceUpload, SyncEvent, SyncPlan, SyncSummary,
    UploadOptions, UploadSource,
};
use datagouv_tests::Stack;
use futures::StreamExt;

async fn run(client: &Client, plan: SyncPlan) -> (SyncSummary, Vec<SyncEvent>) {
    let events: Vec<SyncEvent> = client.sync(plan).collect().await;
    let Some(SyncEvent::Finished(summary)) = events.last().cloned() else {
        panic!("the events end with Finished: {events:?}");
    };
    (summary, events)
}

async fn upload(
    client: &Client,
    target: ResourceUpload<'_>,
    dir: &std::path::Path,
    name: &str,
    bytes: &[u8],
) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let source = UploadSource::file(&path).await.unwrap();
    client
        .upload_resource(target, source, UploadOptions::default())
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn a_mirror_fetches_only_what_changed() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let client = Client::builder()
        .main_url(stack.get("UDATA_BASE_URL"))
        .api_key(stack.get("USER_KEY"))
        .build()
        .unwrap();
    let host = FileServer::start(content(120_000, 7)).await;
    let scratch = tempdir();
    let dataset = client
        .create_draft_dataset(DatasetDraft {
            title: "Miroir du SDK".into(),
            description: "Jeu de test de datagouv sync.".into(),
            organization: Some(stack.get("USER_ORG_ID").to_owned()),
            ..Default::default()
        })
        .await
        .unwrap();
    let id = dataset.id.clone();
    let first_file = content(50_000, 1);
    let hosted_a = upload(
        &client,
        ResourceUpload::NewResource { dataset: &id },
        &scratch,
        "horaires.csv",
        &first_file,
    )
    .await;
    let hosted_b = upload(
        &client,
        ResourceUpload::NewResource { dataset: &id },
        &scratch,
        "arrets.csv",
        &content(30_000, 2),
    )
    .await;
    for (title, path) in [
        ("avec etag", "/etag/data.csv"),
        ("sans etag", "/plain/data.csv"),
        ("absent", "/missing/data.csv"),
    ] {
        client
            .add_remote_resource(&id, title, &format!("{}{path}", host.url), "csv")
            .await
            .unwrap();
    }

    let dir = tempdir().join("miroir");
    let plan = || SyncPlan::new(&dir).dataset(id.as_str()).jobs(3);

    // 1. Everything that exists is fetched and recorded; the 404 fails alone.
    let (first, events) = run(&client, plan()).await;
    assert_eq!(
        (first.new, first.updated, first.unchanged, first.failed),
        (4, 0, 0, 1),
        "{events:?}"
    );
    assert_eq!(first.bytes, 50_000 + 30_000 + 120_000 + 120_000);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, SyncEvent::Failed { file, .. } if file.contains("data")))
    );
    let manifest = Manifest::read(&dir).await.unwrap();
    assert_eq!(manifest.files.len(), 4);
    for (path, entry) in &manifest.files {
        let local = std::fs::metadata(dir.join(path)).unwrap();
        assert_eq!(local.len(), entry.size, "{path}");
        assert!(
            path.starts_with(&format!("{}/", dataset.slug)),
            "{path} is in the dataset's folder"
        );
    }
    let hosted_entry = manifest
        .files
        .values()
        .find(|e| e.resource_id == hosted_a)
        .unwrap();
    assert!(
        hosted_entry
            .checksum
            .as_deref()
            .is_some_and(|c| c.starts_with("sha1:"))
    );
    assert!(
        manifest
            .files
            .values()
            .any(|e| e.etag.as_deref() == Some("\"v1\""))
    );
    let sent = host.sent();
    let asked = host.requests().len();

    // 2. Nothing changed: no byte moves (hosted files decided by the
    //    catalog, the ETag one by a 304).
    let (second, _) = run(&client, plan()).await;
    assert_eq!(
        (second.new, second.updated, second.unchanged, second.bytes),
        (0, 0, 4, 0)
    );
    assert_eq!(host.sent(), sent, "the remote host sent nothing again");
    let again: Vec<String> = host.requests()[asked..].to_vec();
    assert_eq!(
        again.len(),
        2,
        "one conditional request and the 404 again: {again:?}"
    );
    assert!(
        again.iter().any(|r| r.starts_with("GET /etag/")
            && r.to_ascii_lowercase().contains("if-none-match: \"v1\""))
    );
    assert!(
        again.iter().all(|r| !r.starts_with("GET /plain/")),
        "the host without validators is decided by the catalog"
    );

    // 3. One hosted file replaced through the API (under another file name:
    //    udata refuses the same name within the same second): only it is
    //    fetched, and it keeps its local name.
    let replaced = content(70_000, 9);
    upload(
        &client,
        ResourceUpload::ReplaceResource {
            dataset: &id,
            resource: &hosted_a,
        },
        &scratch,
        "horaires-v2.csv",
        &replaced,
    )
    .await;
    let (third, _) = run(&client, plan()).await;
    assert_eq!(
        (third.updated, third.unchanged, third.bytes),
        (1, 3, 70_000)
    );
    let path = Manifest::read(&dir)
        .await
        .unwrap()
        .files
        .into_iter()
        .find(|(_, e)| e.resource_id == hosted_a)
        .unwrap()
        .0;
    assert_eq!(std::fs::read(dir.join(&path)).unwrap(), replaced);

    // 4. A resource deleted from the catalog: kept and reported, then
    //    removed with delete(true).
    client.delete_resource(&id, &hosted_b).await.unwrap();
    let (kept, _) = run(&client, plan()).await;
    assert_eq!((kept.gone, kept.deleted, kept.bytes), (1, 0, 0));
    let gone_path = Manifest::read(&dir)
        .await
        .unwrap()
        .files
        .into_iter()
        .find(|(_, e)| e.resource_id == hosted_b)
        .unwrap()
        .0;
    assert!(dir.join(&gone_path).exists());
    let (deleted, _) = run(&client, plan().delete(true)).await;
    assert_eq!((deleted.gone, deleted.deleted), (0, 1));
    assert!(!dir.join(&gone_path).exists());
    assert!(
        Manifest::read(&dir)
            .await
            .unwrap()
            .files
            .values()
            .all(|e| e.resource_id != hosted_b)
    );

    // 5. A remote file behind a proxy that cuts its first answer after
    //    50,000 of 120,000 bytes: reported as failed, then continued with
    //    Range on the next run (only the rest moves).
    let upstream = host.url.trim_start_matches("http://").parse().unwrap();
    let answers = std::sync::atomic::AtomicUsize::new(0);
    let proxy = FaultServer::start_routed(move |_| {
        let first = answers.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0;
        Action::Relay(upstream, first.then_some(50_000))
    })
    .await;
    client
        .add_remote_resource(
            &id,
            "coupé",
            &format!("{}/etag/cut.csv", proxy.url()),
            "csv",
        )
        .await
        .unwrap();
    let (cut, _) = run(&client, plan()).await;
    assert_eq!(
        (cut.new, cut.failed),
        (0, 2),
        "the cut file and the 404 failed"
    );
    assert_eq!(proxy.received().len(), 1, "one request through the proxy");
    let before = host.sent();
    let (resumed, _) = run(&client, plan()).await;
    assert_eq!((resumed.new, resumed.bytes), (1, 70_000));
    assert_eq!(host.sent() - before, 70_000, "only the rest was sent");
    assert_eq!(proxy.received().len(), 2, "the rest came through the proxy");
    assert!(
        host.requests()
            .iter()
            .any(|r| r.to_ascii_lowercase().contains("range: bytes=50000-"))
    );
    let cut_path = Manifest::read(&dir)
        .await
        .unwrap()
        .files
        .into_iter()
        .find(|(p, _)| p.ends_with("cut.csv"))
        .unwrap()
        .0;
    assert_eq!(
        std::fs::read(dir.join(cut_path)).unwrap(),
        content(120_000, 7)
    );

    // The key went to the API origin only, never to the file host.
    assert!(
        host.requests()
            .iter()
            .all(|r| !r.to_ascii_lowercase().contains("x-api-key")),
        "no request to the file host carried the API key"
    );

    // A dry run touches nothing.
    let fresh = tempdir().join("essai");
    let (dry, events) = run(
        &client,
        SyncPlan::new(&fresh).dataset(id.as_str()).dry_run(true),
    )
    .await;
    assert_eq!(dry.bytes, 0);
    assert!(!fresh.exists(), "a dry run creates nothing");
    assert!(events.iter().any(
        |e| matches!(e, SyncEvent::Skipped { reason, .. } if reason.starts_with("would fetch"))
    ));

    client.delete_dataset(&id).await.unwrap();
}

/// A client of the stack's udata as the non-admin user.
fn user_client(stack: &Stack) -> Client {
    Client::builder()
        .main_url(stack.get("UDATA_BASE_URL"))
        .api_key(stack.get("USER_KEY"))
        .build()
        .unwrap()
}

/// A draft dataset of the user's organization.
async fn new_dataset(client: &Client, stack: &Stack, title: &str) -> datagouv::Dataset {
    client
        .create_draft_dataset(DatasetDraft {
            title: title.into(),
            description: "Jeu de test de datagouv sync.".into(),
            organization: Some(stack.get("USER_ORG_ID").to_owned()),
            ..Default::default()
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn verify_fetches_again_a_local_copy_that_no_longer_matches_the_manifest() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let client = user_client(&stack);
    let host = FileServer::start(content(40_000, 3)).await;
    let dataset = new_dataset(&client, &stack, "Miroir vérifié").await;
    let id = dataset.id.clone();
    client
        .add_remote_resource(&id, "avec etag", &format!("{}/etag/v.csv", host.url), "csv")
        .await
        .unwrap();
    let dir = tempdir().join("miroir");
    let plan = || SyncPlan::new(&dir).dataset(id.as_str());
    let (first, _) = run(&client, plan()).await;
    assert_eq!(first.new, 1);
    let path = Manifest::read(&dir)
        .await
        .unwrap()
        .files
        .into_keys()
        .next()
        .unwrap();
    let local = dir.join(&path);

    // One byte appended to the local copy: --verify fetches it whole again
    // (no If-None-Match, which would get a 304 for a file that is wrong).
    let mut bytes = std::fs::read(&local).unwrap();
    bytes.push(b'!');
    std::fs::write(&local, &bytes).unwrap();
    let asked = host.requests().len();
    let (verified, events) = run(&client, plan().verify(true)).await;
    assert_eq!(
        (verified.updated, verified.unchanged, verified.failed),
        (1, 0, 0),
        "{events:?}"
    );
    assert_eq!(std::fs::read(&local).unwrap(), content(40_000, 3));
    let again = &host.requests()[asked..];
    assert!(
        again
            .iter()
            .all(|r| !r.to_ascii_lowercase().contains("if-none-match")),
        "{again:?}"
    );
    // Intact now: the next run asks the host and moves nothing.
    let (after, _) = run(&client, plan().verify(true)).await;
    assert_eq!((after.unchanged, after.bytes), (1, 0));
    client.delete_dataset(&id).await.unwrap();
}

#[tokio::test]
async fn the_files_of_a_dataset_left_without_resources_are_gone_and_deleted_on_demand() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let client = user_client(&stack);
    let scratch = tempdir();
    let dataset = new_dataset(&client, &stack, "Miroir vidé").await;
    let id = dataset.id.clone();
    let only = upload(
        &client,
        ResourceUpload::NewResource { dataset: &id },
        &scratch,
        "seul.csv",
        &content(5_000, 4),
    )
    .await;
    let dir = tempdir().join("miroir");
    let plan = || SyncPlan::new(&dir).dataset(id.as_str());
    assert_eq!(run(&client, plan()).await.0.new, 1);
    let path = Manifest::read(&dir)
        .await
        .unwrap()
        .files
        .into_keys()
        .next()
        .unwrap();

    client.delete_resource(&id, &only).await.unwrap();
    let (kept, events) = run(&client, plan()).await;
    assert_eq!((kept.gone, kept.deleted), (1, 0), "{events:?}");
    assert!(events.contains(&SyncEvent::Gone {
        file: path.clone(),
        deleted: false
    }));
    assert!(dir.join(&path).exists());
    let (dry, _) = run(&client, plan().delete(true).dry_run(true)).await;
    assert_eq!(dry.deleted, 1, "a dry run counts what it would delete");
    assert!(dir.join(&path).exists());
    let (deleted, _) = run(&client, plan().delete(true)).await;
    assert_eq!(deleted.deleted, 1);
    assert!(!dir.join(&path).exists());
    assert!(Manifest::read(&dir).await.unwrap().files.is_empty());
    client.delete_dataset(&id).await.unwrap();
}

#[tokio::test]
async fn an_interrupted_sync_keeps_the_files_it_finished() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let client = user_client(&stack);
    let host = FileServer::start(content(20_000, 5)).await;
    // The third file's host sends half of it, then nothing for a minute.
    let hang = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let hanging = hang.clone();
    let slow = FaultServer::start_routed(move |_| {
        if hanging.load(std::sync::atomic::Ordering::SeqCst) {
            Action::Slow(std::time::Duration::from_secs(60), "x".repeat(1000))
        } else {
            Action::Respond(200, vec![], "x".repeat(1000))
        }
    })
    .await;
    let dataset = new_dataset(&client, &stack, "Miroir interrompu").await;
    let id = dataset.id.clone();
    for (title, url) in [
        ("a", format!("{}/plain/a.csv", host.url)),
        ("b", format!("{}/plain/b.csv", host.url)),
        ("c", format!("{}/slow/c.csv", slow.url())),
    ] {
        client
            .add_remote_resource(&id, title, &url, "csv")
            .await
            .unwrap();
    }
    let dir = tempdir().join("miroir");
    let plan = || SyncPlan::new(&dir).dataset(id.as_str()).jobs(3);

    let mut events = client.sync(plan());
    let mut done = 0;
    while done < 2 {
        match events.next().await.expect("the sync goes on") {
            SyncEvent::Done { .. } => done += 1,
            SyncEvent::Finished(summary) => panic!("finished early: {summary:?}"),
            _ => {}
        }
    }
    // The manifest records them within a second or so, while the third
    // file still hangs; then the sync is stopped (the stream dropped).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let recorded = loop {
        let files = Manifest::read(&dir)
            .await
            .map(|m| m.files.len())
            .unwrap_or(0);
        if files == 2 || std::time::Instant::now() > deadline {
            break files;
        }
        // The sync runs while its stream is read.
        let wait = std::time::Duration::from_millis(100);
        if let Ok(Some(SyncEvent::Finished(summary))) =
            tokio::time::timeout(wait, events.next()).await
        {
            panic!("finished early: {summary:?}");
        }
    };
    drop(events);
    assert_eq!(
        recorded, 2,
        "the finished files were recorded during the run"
    );

    hang.store(false, std::sync::atomic::Ordering::SeqCst);
    let asked = host.requests().len();
    let (second, events) = run(&client, plan()).await;
    assert_eq!(
        (second.new, second.unchanged, second.failed),
        (1, 2, 0),
        "{events:?}"
    );
    assert_eq!(
        host.requests().len(),
        asked,
        "a and b were not fetched again"
    );
    client.delete_dataset(&id).await.unwrap();
}

#[tokio::test]
async fn a_hostile_manifest_never_reaches_outside_the_mirror() {
    let Some(stack) = Stack::from_env() else {
        return;
    };
    let client = user_client(&stack);
    let scratch = tempdir();
    let dataset = new_dataset(&client, &stack, "Miroir piégé").await;
    let id = dataset.id.clone();
    let resource = upload(
        &client,
        ResourceUpload::NewResource { dataset: &id },
        &scratch,
        "piege.csv",
        &content(3_000, 6),
    )
    .await;
    let dir = scratch.join("miroir");
    std::fs::create_dir_all(&dir).unwrap();
    // Two files outside the mirror, and a manifest that names them: one as
    // the resource's file (a sync would write it), one as a file gone from
    // the catalog (a sync with delete would delete it).
    let written = scratch.join("ecrit.csv");
    let deleted = scratch.join("efface.csv");
    std::fs::write(&written, "keep me").unwrap();
    std::fs::write(&deleted, "keep me too").unwrap();
    let entry = |resource_id: &str| {
        serde_json::json!({
            "resource_id": resource_id, "dataset_id": id, "url": "http://127.0.0.1:1/x",
            "size": 7, "checksum": null, "last_modified": "", "etag": null,
            "http_last_modified": null, "fetched_at": "2024-01-01T00:00:00Z"
        })
    };
    let manifest = serde_json::json!({"files": {
        written.display().to_string(): entry(&resource),
        "../efface.csv": entry("00000000-0000-0000-0000-000000000000"),
    }});
    std::fs::write(dir.join(datagouv::MANIFEST), manifest.to_string()).unwrap();

    let (summary, events) = run(
        &client,
        SyncPlan::new(&dir).dataset(id.as_str()).delete(true),
    )
    .await;
    assert_eq!(std::fs::read_to_string(&written).unwrap(), "keep me");
    assert_eq!(std::fs::read_to_string(&deleted).unwrap(), "keep me too");
    let Some(SyncEvent::Aborted(abort)) =
        events.iter().find(|e| matches!(e, SyncEvent::Aborted(_)))
    else {
        panic!("the sync stops: {events:?}");
    };
    assert!(
        matches!(abort.error(), datagouv::Error::InvalidInput(m) if m.contains("outside the mirror")),
        "{abort}"
    );
    assert_eq!((summary.new, summary.deleted), (0, 0));

    // Refused before any request: a recording server sees nothing.
    let recorder = FaultServer::start_routed(|_| Action::json(500, "{}")).await;
    let offline = Client::builder().main_url(recorder.url()).build().unwrap();
    let (_, events) = run(&offline, SyncPlan::new(&dir).dataset(id.as_str())).await;
    assert!(events.iter().any(|e| matches!(e, SyncEvent::Aborted(_))));
    assert!(recorder.received().is_empty(), "{:?}", recorder.received());
    client.delete_dataset(&id).await.unwrap();
}
