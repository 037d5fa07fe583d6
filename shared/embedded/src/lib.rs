//! The adapters a laptop and the tests run on, with no AWS account: the embedded
//! in-process store and a local folder as the blob store (served by the local server
//! through URLs signed like S3's presigned ones).

pub mod local_blobs;
pub mod store;

pub use local_blobs::LocalBlobStore;
pub use store::EmbeddedStore;
