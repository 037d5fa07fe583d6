//! S3 as the `BlobStore`: clients upload and download straight from S3 with presigned
//! URLs, so file bytes never pass through a Lambda (except the small multipart path).

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::Builder;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;

use super::sdk_timeouts;
use chat_core::domain::Timestamp;
use chat_core::ports::{BlobError, BlobStore, ObjectInfo, PresignedRequest};

#[derive(Clone, Debug)]
pub struct S3BlobStore {
    client: Client,
    bucket: String,
}

impl S3BlobStore {
    /// The bucket in the function's own region, with its own credentials.
    pub fn new(sdk_config: &aws_config::SdkConfig, bucket: impl Into<String>) -> Self {
        Self::with(Builder::from(sdk_config), bucket)
    }

    /// An S3-compatible endpoint on this machine (moto), which checks no signatures.
    pub fn local(endpoint: &str, bucket: impl Into<String>) -> Self {
        let builder = Builder::new()
            .behavior_version_latest()
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "local", "local", None, None, "local",
            ))
            .endpoint_url(endpoint)
            // Emulators serve buckets as paths, not as subdomains of the endpoint.
            .force_path_style(true);
        Self::with(builder, bucket)
    }

    fn with(builder: Builder, bucket: impl Into<String>) -> Self {
        let config = builder.timeout_config(sdk_timeouts()).build();
        Self {
            client: Client::from_conf(config),
            bucket: bucket.into(),
        }
    }

    /// Creates the bucket unless it exists: for the local server and tests.
    pub async fn create_bucket_if_absent(&self) -> Result<(), BlobError> {
        match self
            .client
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err)
                if err.as_service_error().is_some_and(|e| {
                    e.is_bucket_already_owned_by_you() || e.is_bucket_already_exists()
                }) =>
            {
                Ok(())
            }
            Err(err) => Err(failure(&err)),
        }
    }

    fn expiry(expires_in: Duration) -> Result<(PresigningConfig, Timestamp), BlobError> {
        let config = PresigningConfig::expires_in(expires_in)
            .map_err(|e| BlobError::Internal(Box::new(e)))?;
        Ok((config, Timestamp::now().plus(expires_in)))
    }
}

#[async_trait]
impl BlobStore for S3BlobStore {
    /// A presigned PUT whose signature covers `content-type`, `content-length` and
    /// `If-None-Match: *`: S3 refuses an upload of another type or size, and any after the
    /// first (412), so the bytes checked when the file is sent are the bytes served.
    async fn presign_upload(
        &self,
        key: &str,
        content_type: &str,
        size: u64,
        expires_in: Duration,
    ) -> Result<PresignedRequest, BlobError> {
        let (config, expires_at) = Self::expiry(expires_in)?;
        let length =
            i64::try_from(size).map_err(|_| BlobError::Internal("size out of range".into()))?;
        let presigned = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_length(length)
            .if_none_match("*")
            .presigned(config)
            .await
            .map_err(|e| failure(&e))?;
        Ok(PresignedRequest {
            url: presigned.uri().to_owned(),
            method: "PUT",
            headers: presigned
                .headers()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            expires_at,
        })
    }

    async fn presign_download(
        &self,
        key: &str,
        expires_in: Duration,
    ) -> Result<PresignedRequest, BlobError> {
        let (config, expires_at) = Self::expiry(expires_in)?;
        let presigned = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| failure(&e))?;
        Ok(PresignedRequest {
            url: presigned.uri().to_owned(),
            method: "GET",
            headers: presigned
                .headers()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            expires_at,
        })
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectInfo>, BlobError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(output) => Ok(Some(ObjectInfo {
                size: output
                    .content_length
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0),
                content_type: output.content_type,
            })),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(err) => Err(failure(&err)),
        }
    }

    async fn put(&self, key: &str, content_type: &str, bytes: Vec<u8>) -> Result<(), BlobError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failure(&e))
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, BlobError> {
        let output = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(output) => output,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Ok(None);
            }
            Err(err) => return Err(failure(&err)),
        };
        let bytes = output.body.collect().await.map_err(|e| failure(&e))?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }

    async fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| failure(&e))
    }
}

fn failure(err: &(impl std::error::Error + 'static)) -> BlobError {
    BlobError::Unavailable(DisplayErrorContext(err).to_string().into())
}
