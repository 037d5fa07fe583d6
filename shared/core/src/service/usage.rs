//! What the bot's replies cost: each user's tokens and replies per UTC day, for admins
//! (every user) and for each user (their own, with what is left of the day's budget).

use super::{ChatService, ServiceError, ServiceResult};
use crate::domain::{Cursor, Day, Page, PageLimit, Principal, Usage, UserId};

/// One user's usage on a day, and the day's budget it counts against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageReport {
    pub usage: Usage,
    /// `RATE_BOT_TOKENS_PER_USER_PER_DAY`.
    pub token_limit: u64,
}

impl ChatService {
    /// The user's usage on the day (today when `None`), all zero when they had no reply:
    /// for the user themselves and for admins; to anyone else the user's usage is 403.
    /// One read.
    pub async fn user_usage(
        &self,
        caller: &Principal,
        user: &UserId,
        day: Option<Day>,
    ) -> ServiceResult<UsageReport> {
        if caller.user_id != *user && !caller.is_admin() {
            return Err(ServiceError::Forbidden(
                "only admins see other users' usage",
            ));
        }
        let day = day.unwrap_or_else(|| Day::of(self.clock.now()));
        let usage = self
            .store
            .get_usage(user, day)
            .await?
            .unwrap_or_else(|| Usage::none(user.clone(), day));
        Ok(UsageReport {
            usage,
            token_limit: self.rates.bot_tokens_per_user,
        })
    }

    /// Every user's usage on the day (today when `None`), by user id, a page at a time,
    /// and the day it is: admins only. One Query a page.
    pub async fn usage_on(
        &self,
        caller: &Principal,
        day: Option<Day>,
        cursor: Option<&Cursor>,
        limit: PageLimit,
    ) -> ServiceResult<(Day, Page<Usage>)> {
        if !caller.is_admin() {
            return Err(ServiceError::Forbidden("only admins see everyone's usage"));
        }
        let day = day.unwrap_or_else(|| Day::of(self.clock.now()));
        let after = cursor.map(Usage::after_cursor).transpose()?;
        let page = self.store.list_usage(day, after.as_ref(), limit).await?;
        Ok((day, page))
    }
}
