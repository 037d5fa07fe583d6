//! The local server playing S3: signed uploads and downloads over real HTTP.

use std::time::Duration;

use chat_core::ports::{BlobStore, PresignedRequest};
use chat_e2e::spawn_app;
use reqwest::StatusCode;

async fn send(
    request: &PresignedRequest,
    url: &str,
    content_type: Option<&str>,
    body: Option<&[u8]>,
) -> (StatusCode, Vec<u8>) {
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).expect("a method");
    let mut builder = reqwest::Client::new().request(method, url);
    if let Some(content_type) = content_type {
        builder = builder.header("content-type", content_type);
    }
    if let Some(body) = body {
        builder = builder.body(body.to_vec());
    }
    let response = builder.send().await.expect("the server answers");
    (
        response.status(),
        response.bytes().await.expect("a body").to_vec(),
    )
}

#[tokio::test]
async fn a_signed_upload_is_kept_and_a_signed_download_returns_the_same_bytes() {
    let app = spawn_app().await;
    let blobs = app.blobs();
    let key = "sessions/s1/a1";
    let bytes = b"\x89PNG-ish bytes".as_slice();
    let upload = blobs
        .presign_upload(
            key,
            "image/png",
            bytes.len() as u64,
            Duration::from_secs(60),
        )
        .await
        .expect("presigned");
    assert_eq!(
        send(&upload, &upload.url, Some("image/png"), Some(bytes))
            .await
            .0,
        StatusCode::OK
    );
    let info = blobs.head(key).await.expect("head").expect("stored");
    assert_eq!(
        (info.size, info.content_type.as_deref()),
        (bytes.len() as u64, Some("image/png"))
    );
    let download = blobs
        .presign_download(key, Duration::from_secs(60))
        .await
        .expect("presigned");
    assert_eq!(
        send(&download, &download.url, None, None).await,
        (StatusCode::OK, bytes.to_vec())
    );
}

#[tokio::test]
async fn uploads_and_downloads_not_signed_for_the_request_are_refused() {
    let app = spawn_app().await;
    let blobs = app.blobs();
    let key = "sessions/s1/a2";
    let upload = blobs
        .presign_upload(key, "image/png", 4, Duration::from_secs(60))
        .await
        .expect("presigned");
    assert_eq!(
        send(&upload, &upload.url, Some("image/gif"), Some(b"GIF8"))
            .await
            .0,
        StatusCode::FORBIDDEN,
        "another type"
    );
    assert_eq!(
        send(&upload, &upload.url, Some("image/png"), Some(b"too long"))
            .await
            .0,
        StatusCode::FORBIDDEN,
        "another size"
    );
    let tampered = upload.url.replace("signature=", "signature=x");
    assert_eq!(
        send(&upload, &tampered, Some("image/png"), Some(b"1234"))
            .await
            .0,
        StatusCode::FORBIDDEN,
        "a forged signature"
    );
    let elsewhere = upload.url.replace("/a2?", "/a3?");
    assert_eq!(
        send(&upload, &elsewhere, Some("image/png"), Some(b"1234"))
            .await
            .0,
        StatusCode::FORBIDDEN,
        "another key"
    );
    assert_eq!(
        blobs.head(key).await.expect("head"),
        None,
        "nothing was kept"
    );
    let unsigned = upload.url.split('?').next().expect("a path").to_owned();
    let download = blobs
        .presign_download(key, Duration::from_secs(60))
        .await
        .expect("presigned");
    assert_eq!(
        send(&download, &unsigned, None, None).await.0,
        StatusCode::FORBIDDEN,
        "an unsigned download"
    );
    assert_eq!(
        send(&download, &download.url, None, None).await.0,
        StatusCode::NOT_FOUND,
        "nothing uploaded yet"
    );
}
