//! A folder as the `BlobStore`, for the local server: it plays S3, handing out URLs on its
//! own HTTP port that carry an HMAC signature over what the request may do, so an upload
//! is pinned to its type and size and every URL expires, as S3's presigned URLs are.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use chat_core::domain::Timestamp;
use chat_core::ports::{BlobError, BlobStore, ObjectInfo, PresignedRequest};

/// The URL path under which the local server serves the blobs.
pub const BLOB_PATH: &str = "/_blobs/";

pub struct LocalBlobStore {
    root: PathBuf,
    base_url: String,
    key: hmac::Key,
}

/// What a signed URL allows, as its query string states it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub expires: i64,
    /// For uploads: the only content type and size accepted.
    pub content_type: Option<String>,
    pub size: Option<u64>,
    pub signature: String,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error("the signature does not match")]
    BadSignature,
    #[error("the URL has expired")]
    Expired,
    #[error("the upload does not match the type and size it was granted")]
    Mismatch,
}

impl LocalBlobStore {
    /// Blobs under `root`, served at `http_base` (e.g. `http://127.0.0.1:3000`), signed
    /// with `secret`.
    pub fn new(root: impl Into<PathBuf>, http_base: &str, secret: &[u8]) -> Self {
        Self {
            root: root.into(),
            base_url: format!("{}{BLOB_PATH}", http_base.trim_end_matches('/')),
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// Keys are server-made (`sessions/<sid>/<aid>`); anything else could walk out of
    /// the folder, so it is refused.
    fn path(&self, key: &str) -> Result<PathBuf, BlobError> {
        let safe = !key.is_empty()
            && key.split('/').all(|part| {
                !part.is_empty()
                    && part != "."
                    && part != ".."
                    && part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            });
        if safe {
            Ok(self.root.join(key))
        } else {
            Err(BlobError::Internal(
                format!("not a blob key: {key:?}").into(),
            ))
        }
    }

    fn sign(
        &self,
        method: &str,
        key: &str,
        expires: i64,
        content_type: Option<&str>,
        size: Option<u64>,
    ) -> String {
        let statement = statement(method, key, expires, content_type, size);
        URL_SAFE_NO_PAD.encode(hmac::sign(&self.key, statement.as_bytes()).as_ref())
    }

    fn url(
        &self,
        method: &str,
        key: &str,
        expires_in: Duration,
        content_type: Option<&str>,
        size: Option<u64>,
    ) -> (String, Timestamp) {
        let expires_at = Timestamp::now().plus(expires_in).ceil_to_second();
        let expires = expires_at.unix_seconds();
        let signature = self.sign(method, key, expires, content_type, size);
        let mut url = format!(
            "{}{key}?expires={expires}&signature={signature}",
            self.base_url
        );
        if let (Some(content_type), Some(size)) = (content_type, size) {
            url.push_str(&format!(
                "&size={size}&type={}",
                percent_encode(content_type)
            ));
        }
        (url, expires_at)
    }

    /// Checks a request against the grant its URL carries.
    pub fn check(
        &self,
        method: &str,
        key: &str,
        grant: &Grant,
        sent: Option<(&str, u64)>,
        now: Timestamp,
    ) -> Result<(), GrantError> {
        let signature = URL_SAFE_NO_PAD
            .decode(&grant.signature)
            .map_err(|_| GrantError::BadSignature)?;
        let statement = statement(
            method,
            key,
            grant.expires,
            grant.content_type.as_deref(),
            grant.size,
        );
        // Compared in constant time by the HMAC library.
        hmac::verify(&self.key, statement.as_bytes(), &signature)
            .map_err(|_| GrantError::BadSignature)?;
        if now.unix_seconds() >= grant.expires {
            return Err(GrantError::Expired);
        }
        match (sent, &grant.content_type, grant.size) {
            (Some((content_type, size)), Some(granted_type), Some(granted_size))
                if content_type != granted_type || size != granted_size =>
            {
                Err(GrantError::Mismatch)
            }
            _ => Ok(()),
        }
    }

    /// The stored bytes and their content type.
    pub async fn read(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, BlobError> {
        let path = self.path(key)?;
        let Some(content_type) = read_type(&path).await? else {
            return Ok(None);
        };
        let bytes = tokio::fs::read(&path).await.map_err(io)?;
        Ok(Some((bytes, content_type)))
    }
}

/// What a signature covers: the method, the key, the expiry, and for uploads the type and
/// size, one per line.
fn statement(
    method: &str,
    key: &str,
    expires: i64,
    content_type: Option<&str>,
    size: Option<u64>,
) -> String {
    let size = size.map(|s| s.to_string()).unwrap_or_default();
    format!(
        "{method}\n{key}\n{expires}\n{}\n{size}",
        content_type.unwrap_or_default()
    )
}

impl Grant {
    /// Reads a grant from a signed URL's query string.
    pub fn from_query(query: &str) -> Option<Self> {
        let mut grant = Self {
            expires: 0,
            content_type: None,
            size: None,
            signature: String::new(),
        };
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=')?;
            let value = percent_decode(value)?;
            match name {
                "expires" => grant.expires = value.parse().ok()?,
                "signature" => grant.signature = value,
                "type" => grant.content_type = Some(value),
                "size" => grant.size = Some(value.parse().ok()?),
                _ => {}
            }
        }
        (!grant.signature.is_empty() && grant.expires > 0).then_some(grant)
    }
}

fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = value.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn meta_path(path: &Path) -> PathBuf {
    path.with_extension("type")
}

async fn read_type(path: &Path) -> Result<Option<String>, BlobError> {
    match tokio::fs::read_to_string(meta_path(path)).await {
        Ok(content_type) => Ok(Some(content_type)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(io(error)),
    }
}

impl LocalBlobStore {
    /// A presigned upload, which S3 takes once (its URL is signed with `If-None-Match: *`):
    /// linked into place only if nothing is there, so of two at once one wins. False when
    /// the key already held an object.
    pub async fn put_new(
        &self,
        key: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<bool, BlobError> {
        let (path, partial) = self.write_beside(key, &bytes).await?;
        let linked = tokio::fs::hard_link(&partial, &path).await;
        let _ = tokio::fs::remove_file(&partial).await;
        match linked {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => return Ok(false),
            Err(error) => return Err(io(error)),
        }
        tokio::fs::write(meta_path(&path), content_type)
            .await
            .map_err(io)?;
        Ok(true)
    }

    /// The bytes in a file of their own beside the key's path, for the caller to move in.
    async fn write_beside(&self, key: &str, bytes: &[u8]) -> Result<(PathBuf, PathBuf), BlobError> {
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let path = self.path(key)?;
        if let Some(folder) = path.parent() {
            tokio::fs::create_dir_all(folder).await.map_err(io)?;
        }
        let write = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let partial = path.with_extension(format!("partial-{}-{write}", std::process::id()));
        tokio::fs::write(&partial, bytes).await.map_err(io)?;
        Ok((path, partial))
    }
}

fn io(error: std::io::Error) -> BlobError {
    BlobError::Internal(Box::new(error))
}

#[async_trait]
impl BlobStore for LocalBlobStore {
    async fn presign_upload(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        expires_in: Duration,
    ) -> Result<PresignedRequest, BlobError> {
        self.path(key)?;
        let (url, expires_at) = self.url("PUT", key, expires_in, Some(content_type), Some(size));
        let headers = vec![
            ("content-type".to_owned(), content_type.to_owned()),
            ("content-length".to_owned(), size.to_string()),
            ("if-none-match".to_owned(), "*".to_owned()),
        ];
        Ok(PresignedRequest {
            url,
            method: "PUT",
            headers,
            expires_at,
        })
    }

    async fn presign_download(
        &self,
        key: &str,
        expires_in: Duration,
    ) -> Result<PresignedRequest, BlobError> {
        self.path(key)?;
        let (url, expires_at) = self.url("GET", key, expires_in, None, None);
        Ok(PresignedRequest {
            url,
            method: "GET",
            headers: Vec::new(),
            expires_at,
        })
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, BlobError> {
        let path = self.path(key)?;
        let Some(content_type) = read_type(&path).await? else {
            return Ok(None);
        };
        let size = tokio::fs::metadata(&path).await.map_err(io)?.len();
        Ok(Some(ObjectInfo {
            size,
            content_type: Some(content_type),
        }))
    }

    /// Written beside and renamed into place, so a reader never sees half a file.
    async fn put(&self, key: &str, content_type: &str, bytes: Vec<u8>) -> Result<(), BlobError> {
        let (path, partial) = self.write_beside(key, &bytes).await?;
        tokio::fs::rename(&partial, &path).await.map_err(io)?;
        tokio::fs::write(meta_path(&path), content_type)
            .await
            .map_err(io)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        let path = self.path(key)?;
        if read_type(&path).await?.is_none() {
            return Ok(None);
        }
        tokio::fs::read(&path).await.map(Some).map_err(io)
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let path = self.path(key)?;
        for file in [meta_path(&path), path] {
            match tokio::fs::remove_file(&file).await {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(io(error)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> LocalBlobStore {
        let folder = format!(
            "chat-blobs-{}",
            chat_core::domain::SessionId::new(Timestamp::now())
        );
        LocalBlobStore::new(
            std::env::temp_dir().join(folder),
            "http://127.0.0.1:3000",
            b"a test secret",
        )
    }

    fn grant_of(request: &PresignedRequest) -> Grant {
        let query = request
            .url
            .split_once('?')
            .map(|(_, q)| q)
            .expect("a query");
        Grant::from_query(query).expect("a grant")
    }

    #[tokio::test]
    async fn an_upload_grant_holds_for_its_type_and_size_only_until_it_expires() {
        let store = store();
        let key = "sessions/s1/a1";
        let upload = store
            .presign_upload(key, "image/png", 10, Duration::from_secs(60))
            .await
            .expect("presigned");
        assert!(
            upload
                .url
                .starts_with("http://127.0.0.1:3000/_blobs/sessions/s1/a1?"),
            "{}",
            upload.url
        );
        let grant = grant_of(&upload);
        let now = Timestamp::now();
        assert_eq!(
            store.check("PUT", key, &grant, Some(("image/png", 10)), now),
            Ok(())
        );
        assert_eq!(
            store.check("PUT", key, &grant, Some(("image/gif", 10)), now),
            Err(GrantError::Mismatch)
        );
        assert_eq!(
            store.check("PUT", key, &grant, Some(("image/png", 11)), now),
            Err(GrantError::Mismatch)
        );
        assert_eq!(
            store.check(
                "PUT",
                "sessions/s1/a2",
                &grant,
                Some(("image/png", 10)),
                now
            ),
            Err(GrantError::BadSignature)
        );
        assert_eq!(
            store.check("GET", key, &grant, None, now),
            Err(GrantError::BadSignature)
        );
        let forged = Grant {
            size: Some(1_000_000),
            ..grant.clone()
        };
        assert_eq!(
            store.check("PUT", key, &forged, Some(("image/png", 1_000_000)), now),
            Err(GrantError::BadSignature)
        );
        let later =
            Timestamp::from_unix_millis(u64::try_from(grant.expires).expect("positive") * 1_000);
        assert_eq!(
            store.check("PUT", key, &grant, Some(("image/png", 10)), later),
            Err(GrantError::Expired)
        );
    }

    #[tokio::test]
    async fn bytes_put_are_found_read_back_and_missing_ones_are_none() {
        let store = store();
        let key = "sessions/s1/a1";
        assert_eq!(store.head(key).await.expect("head"), None);
        store
            .put(key, "text/plain", b"hello".to_vec())
            .await
            .expect("stored");
        let info = store.head(key).await.expect("head").expect("exists");
        assert_eq!(
            (info.size, info.content_type.as_deref()),
            (5, Some("text/plain"))
        );
        assert_eq!(
            store.read(key).await.expect("read"),
            Some((b"hello".to_vec(), "text/plain".to_owned()))
        );
        let download = store
            .presign_download(key, Duration::from_secs(60))
            .await
            .expect("presigned");
        assert_eq!(
            store.check("GET", key, &grant_of(&download), None, Timestamp::now()),
            Ok(())
        );
    }

    #[tokio::test]
    async fn deleted_bytes_are_gone_and_deleting_nothing_is_no_error() {
        let store = store();
        let key = "chatbots/helper/d1";
        store
            .put(key, "text/plain", b"notes".to_vec())
            .await
            .expect("stored");
        assert_eq!(store.get(key).await.expect("read"), Some(b"notes".to_vec()));
        store.delete(key).await.expect("deleted");
        assert_eq!(store.get(key).await.expect("read"), None);
        assert_eq!(store.head(key).await.expect("head"), None);
        store.delete(key).await.expect("nothing to delete");
    }

    #[tokio::test]
    async fn keys_that_could_leave_the_folder_are_refused() {
        let store = store();
        for key in [
            "../etc/passwd",
            "sessions/../../x",
            "/abs",
            "sessions//a",
            "a b",
            "",
        ] {
            assert!(
                store.put(key, "text/plain", Vec::new()).await.is_err(),
                "{key:?}"
            );
        }
    }
}
