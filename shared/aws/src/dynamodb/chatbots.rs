//! The deployment's chatbots: all in one partition, `CHATBOTS` / `CHATBOT#<id>`, so the
//! list is one Query (a deployment has tens of chatbots, not thousands).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::DynamoStore;
use super::errors::conditional;
use super::items::{CHATBOT_PREFIX, CHATBOTS_PK, chatbot_key, chatbot_sk, to_item, to_value};
use chat_core::domain::{Chatbot, ChatbotId};
use chat_core::ports::{ChatbotStore, ChatbotWrite, StoreResult};

#[derive(Serialize, Deserialize)]
struct ChatbotItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    chatbot: Chatbot,
}

#[async_trait]
impl ChatbotStore for DynamoStore {
    /// One conditional PutItem.
    async fn put_chatbot(&self, chatbot: &Chatbot, write: ChatbotWrite) -> StoreResult<bool> {
        let item = ChatbotItem {
            pk: CHATBOTS_PK.to_owned(),
            sk: chatbot_sk(&chatbot.id),
            chatbot: chatbot.clone(),
        };
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&item)?));
        let request = match write {
            ChatbotWrite::Create => request.condition_expression("attribute_not_exists(pk)"),
            ChatbotWrite::Replace { updated_at } => request
                .condition_expression("updated_at = :seen")
                .expression_attribute_values(":seen", to_value(&updated_at)?),
        };
        Ok(conditional("PutItem", request.send().await)?.is_ok())
    }

    /// One GetItem.
    async fn get_chatbot(&self, id: &ChatbotId) -> StoreResult<Option<Chatbot>> {
        Ok(self
            .get::<ChatbotItem>(chatbot_key(id))
            .await?
            .map(|item| item.chatbot))
    }

    /// One Query (a page per 1 MB).
    async fn list_chatbots(&self) -> StoreResult<Vec<Chatbot>> {
        let items: Vec<ChatbotItem> = self
            .query_prefix(CHATBOTS_PK.to_owned(), CHATBOT_PREFIX, None)
            .await?;
        Ok(items.into_iter().map(|item| item.chatbot).collect())
    }

    /// One DeleteItem.
    async fn delete_chatbot(&self, id: &ChatbotId) -> StoreResult<bool> {
        Ok(self.delete_returning(chatbot_key(id)).await?.is_some())
    }
}
