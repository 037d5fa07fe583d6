//! Each business's customer-verification secret: one item, `BUSINESS#<id>` / `SECRET`.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::DynamoStore;
use super::errors::sdk_failure;
use super::items::{BUSINESS_SECRET, business_pk, business_secret_key, to_item};
use chat_core::domain::{BusinessId, BusinessSecret};
use chat_core::ports::{BusinessStore, StoreResult};

#[derive(Serialize, Deserialize)]
struct BusinessSecretItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    secret: BusinessSecret,
}

impl BusinessSecretItem {
    fn new(secret: &BusinessSecret) -> Self {
        Self {
            pk: business_pk(&secret.business_id),
            sk: BUSINESS_SECRET.to_owned(),
            secret: secret.clone(),
        }
    }
}

#[async_trait]
impl BusinessStore for DynamoStore {
    /// One PutItem, replacing the secret before it.
    async fn put_business_secret(&self, secret: &BusinessSecret) -> StoreResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&BusinessSecretItem::new(secret))?))
            .send()
            .await
            .map_err(|e| sdk_failure("PutItem", e))?;
        Ok(())
    }

    /// One GetItem.
    async fn get_business_secret(
        &self,
        business: &BusinessId,
    ) -> StoreResult<Option<BusinessSecret>> {
        Ok(self
            .get::<BusinessSecretItem>(business_secret_key(business))
            .await?
            .map(|item| item.secret))
    }
}
