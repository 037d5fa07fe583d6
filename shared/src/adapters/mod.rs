//! Implementations of the ports: the embedded store for laptops and tests, DynamoDB for
//! production. Each keeps its own types (attribute maps, SDK errors) to itself.

pub mod dynamodb;
pub mod embedded;
mod paging;

pub use dynamodb::DynamoStore;
pub use embedded::EmbeddedStore;
