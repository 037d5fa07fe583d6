//! The S3 blob store against moto's S3 (the endpoint `infra/test.sh` starts), with real
//! HTTP uploads and downloads through the presigned URLs.

use std::time::Duration;

use chat_aws::S3BlobStore;
use chat_core::domain::{SessionId, Timestamp};
use chat_core::ports::{BlobStore, PresignedRequest};

/// A fresh bucket on the emulator, or `None` (said aloud) under plain `cargo test`.
async fn store() -> Option<S3BlobStore> {
    let endpoint = chat_testkit::emulator_endpoint("the S3 blob store tests were")?;
    let bucket = format!(
        "blobs-{}",
        SessionId::new(Timestamp::now()).to_string().to_lowercase()
    );
    let store = S3BlobStore::local(&endpoint, bucket);
    store.create_bucket_if_absent().await.expect("a bucket");
    Some(store)
}

async fn send(request: &PresignedRequest, body: Option<Vec<u8>>) -> reqwest::Response {
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).expect("a method");
    let mut builder = reqwest::Client::new().request(method, &request.url);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    if let Some(body) = body {
        builder = builder.body(body);
    }
    builder.send().await.expect("the emulator answers")
}

#[tokio::test]
async fn a_presigned_upload_then_download_round_trips_the_bytes() {
    let Some(store) = store().await else { return };
    let key = "sessions/s1/a1";
    let bytes = b"\x89PNG not really".to_vec();
    let upload = store
        .presign_upload(
            key,
            "image/png",
            bytes.len() as u64,
            Duration::from_secs(600),
        )
        .await
        .expect("presigned");
    assert_eq!(upload.method, "PUT");
    assert!(
        send(&upload, Some(bytes.clone()))
            .await
            .status()
            .is_success()
    );
    let info = store
        .head(key)
        .await
        .expect("head")
        .expect("the object exists");
    assert_eq!(
        (info.size, info.content_type.as_deref()),
        (bytes.len() as u64, Some("image/png"))
    );
    let download = store
        .presign_download(key, Duration::from_secs(60))
        .await
        .expect("presigned");
    let fetched = send(&download, None).await;
    assert!(fetched.status().is_success());
    assert_eq!(fetched.bytes().await.expect("a body").to_vec(), bytes);
}

#[tokio::test]
async fn a_presigned_upload_signs_its_type_and_length_and_expires_when_asked() {
    let Some(store) = store().await else { return };
    let before = Timestamp::now();
    let upload = store
        .presign_upload(
            "sessions/s1/a2",
            "application/pdf",
            2_048,
            Duration::from_secs(900),
        )
        .await
        .expect("presigned");
    let query: Vec<(String, String)> = reqwest::Url::parse(&upload.url)
        .expect("a URL")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let signed = query
        .iter()
        .find(|(k, _)| k == "X-Amz-SignedHeaders")
        .map(|(_, v)| v.as_str())
        .expect("signed headers");
    for header in ["content-length", "content-type", "host"] {
        assert!(
            signed.split(';').any(|h| h == header),
            "{header} is signed: {signed}"
        );
    }
    assert_eq!(
        query
            .iter()
            .find(|(k, _)| k == "X-Amz-Expires")
            .map(|(_, v)| v.as_str()),
        Some("900")
    );
    let headers: Vec<(&str, &str)> = upload
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert!(
        headers.contains(&("content-type", "application/pdf"))
            && headers.contains(&("content-length", "2048")),
        "{headers:?}"
    );
    assert!(upload.expires_at >= before.plus(Duration::from_secs(899)));
}

#[tokio::test]
async fn bytes_put_through_the_api_are_found_and_a_missing_object_is_none() {
    let Some(store) = store().await else { return };
    store
        .put("sessions/s1/a3", "text/plain", b"hello".to_vec())
        .await
        .expect("stored");
    let info = store
        .head("sessions/s1/a3")
        .await
        .expect("head")
        .expect("exists");
    assert_eq!(
        (info.size, info.content_type.as_deref()),
        (5, Some("text/plain"))
    );
    assert_eq!(store.head("sessions/s1/missing").await.expect("head"), None);
}

#[tokio::test]
async fn bytes_are_read_back_then_deleted_and_deleting_nothing_is_no_error() {
    let Some(store) = store().await else { return };
    let key = "chatbots/helper/d1";
    store
        .put(key, "text/plain", b"notes".to_vec())
        .await
        .expect("stored");
    assert_eq!(store.get(key).await.expect("read"), Some(b"notes".to_vec()));
    store.delete(key).await.expect("deleted");
    assert_eq!(store.get(key).await.expect("read"), None);
    store.delete(key).await.expect("nothing to delete");
}
