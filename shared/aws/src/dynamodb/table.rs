//! The table's definition: its keys, its three indexes and its TTL attribute. `template.yaml`
//! must say the same.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};

use super::DynamoStore;
use super::errors::{internal, sdk_failure};
use chat_core::ports::StoreResult;

/// The name of the one global secondary index: a user's memberships by their activity.
pub const GSI1: &str = "gsi1";

/// An index that holds whole items, so a query of it needs no second read.
fn whole_items() -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::All)
        .build()
}

impl DynamoStore {
    /// Creates the table with its index and TTL unless it exists: for the local server and
    /// tests. Deployed stacks get the table from the template.
    pub async fn create_table_if_absent(&self) -> StoreResult<()> {
        let typed = |name: &str, kind: ScalarAttributeType| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(kind)
                .build()
                .map_err(internal)
        };
        let attribute = |name: &str| typed(name, ScalarAttributeType::S);
        let key = |name: &str, kind: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(internal)
        };
        let index = GlobalSecondaryIndex::builder()
            .index_name(GSI1)
            .key_schema(key("gsi1pk", KeyType::Hash)?)
            .key_schema(key("gsi1sk", KeyType::Range)?)
            .projection(whole_items())
            .build()
            .map_err(internal)?;
        // What the sweeper finds (see `sweep`): keys only, so nothing else rewrites it.
        let sweeps = GlobalSecondaryIndex::builder()
            .index_name(super::sweep::GSI2)
            .key_schema(key("gsi2pk", KeyType::Hash)?)
            .key_schema(key("gsi2sk", KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::KeysOnly)
                    .build(),
            )
            .build()
            .map_err(internal)?;
        // Messages by seq within their session's partition (`after_seq`, `resume`).
        let by_seq = LocalSecondaryIndex::builder()
            .index_name(super::items::SEQ_INDEX)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("seq", KeyType::Range)?)
            .projection(whole_items())
            .build()
            .map_err(internal)?;
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attribute("pk")?)
            .attribute_definitions(attribute("sk")?)
            .attribute_definitions(attribute("gsi1pk")?)
            .attribute_definitions(attribute("gsi1sk")?)
            .attribute_definitions(attribute("gsi2pk")?)
            .attribute_definitions(attribute("gsi2sk")?)
            .attribute_definitions(typed("seq", ScalarAttributeType::N)?)
            .key_schema(key("pk", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .global_secondary_indexes(index)
            .global_secondary_indexes(sweeps)
            .local_secondary_indexes(by_seq)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) =>
            {
                return Ok(());
            }
            Err(err) => return Err(sdk_failure("CreateTable", err)),
        }
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name("expires_at")
            .enabled(true)
            .build()
            .map_err(internal)?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(|e| sdk_failure("UpdateTimeToLive", e))?;
        Ok(())
    }
}
