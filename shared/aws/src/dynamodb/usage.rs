//! What the bot's replies cost: one item per user and UTC day, `USAGE#<day>` /
//! `USER#<user>`, so a day's usage is one partition an admin pages through with a Query.
//! Each reply adds to its asker's item in the reply's own transaction; the message path
//! reads today's item with the sender, in the same BatchGetItem.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::Update;
use aws_sdk_dynamodb::types::builders::UpdateBuilder;

use super::DynamoStore;
use super::items::{Item, epoch_seconds, key, n, s, to_value};
use chat_core::domain::{Day, Page, PageLimit, Usage, UserId};
use chat_core::ports::{StoreResult, UsageCharge, UsageStore};

/// How long a day's usage is kept (TTL): over a year, for yearly reports.
const USAGE_KEPT: Duration = Duration::from_secs(400 * 24 * 3600);

const USER_PREFIX: &str = "USER#";
/// Sorts after every `USER#<id>`.
const PAST_USERS: &str = "USER$";

fn usage_pk(day: Day) -> String {
    format!("USAGE#{day}")
}

fn usage_sk(user: &UserId) -> String {
    format!("{USER_PREFIX}{user}")
}

pub(super) fn usage_key(user: &UserId, day: Day) -> Item {
    key(usage_pk(day), usage_sk(user))
}

/// The transaction item that adds a reply's tokens to its asker's day.
pub(super) fn charged(charge: &UsageCharge) -> StoreResult<UpdateBuilder> {
    let kept_until = charge.day.next_starts_at().plus(USAGE_KEPT);
    let tokens = i64::try_from(charge.tokens).unwrap_or(i64::MAX);
    Ok(Update::builder()
        .update_expression(
            "ADD tokens :tokens, replies :one \
             SET user_id = :user, #day = :day, expires_at = :expires",
        )
        .expression_attribute_names("#day", "day")
        .expression_attribute_values(":tokens", n(tokens))
        .expression_attribute_values(":one", n(1))
        .expression_attribute_values(":user", s(charge.user.as_str()))
        .expression_attribute_values(":day", to_value(&charge.day)?)
        .expression_attribute_values(":expires", n(epoch_seconds(kept_until))))
}

#[async_trait]
impl UsageStore for DynamoStore {
    /// One GetItem.
    async fn get_usage(&self, user: &UserId, day: Day) -> StoreResult<Option<Usage>> {
        // The item's keys and TTL are left out of the `Usage` it is read as.
        self.get::<Usage>(usage_key(user, day)).await
    }

    /// One Query of the day's partition.
    async fn list_usage(
        &self,
        day: Day,
        after: Option<&UserId>,
        limit: PageLimit,
    ) -> StoreResult<Page<Usage>> {
        // Sort keys are compared as bytes: the first id after `after` sorts after it
        // with a NUL appended, which no id contains.
        let first = after.map_or_else(
            || USER_PREFIX.to_owned(),
            |user| format!("{}\u{0}", usage_sk(user)),
        );
        self.query_page(
            usage_pk(day),
            (first, PAST_USERS.to_owned()),
            true,
            limit,
            std::convert::identity::<Usage>,
            Usage::cursor,
        )
        .await
    }
}
