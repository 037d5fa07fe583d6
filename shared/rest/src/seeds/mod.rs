//! The seed systems' own REST routes (`docs/compat.md`), mounted beside the canonical API
//! and served by the same service layer: the same authorization, store, broadcasts and
//! limits. Only the paths and the bodies are the seeds'. An identity a seed's request
//! carries (`user_id`, `uploaded_by_*`) must be the caller's, or the caller an admin
//! ([`chat_core::service::acting_as`]).
//!
//! - 000 (live chat manager): [`live`], `/api/chat/sessions...`
//! - 001 (chats and messages): [`chat`], `/chat/...`
//! - 003 (chatbot sessions): [`chatbot`], `/chatbot/...`
//! - 004 (visitor support): [`visitor`], `/chat/start-session`, `/chat/history/{id}`,
//!   `/chat/upload-file`
//!
//! Paths with a trailing slash (004's) are served as without one, as every route is.

// Visible to the crate for the OpenAPI document's list of operations.
pub(crate) mod chat;
pub(crate) mod chatbot;
pub(crate) mod live;
pub(crate) mod visitor;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use chat_core::domain::{Cursor, Page, UserId};
use chat_core::service::ServiceResult;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::State;
use crate::extract::PageNumber;

/// The seeds' routes the `sessions` function serves.
pub fn routes() -> Router<Arc<State>> {
    live::routes()
        .merge(chat::routes())
        .merge(chatbot::routes())
        .merge(visitor::routes())
}

/// The seeds' routes the `uploads` function serves (in [`crate::uploads::ROUTES`]).
pub fn upload_routes() -> Router<Arc<State>> {
    visitor::upload_routes()
}

/// A user id as the seeds write it: 001's are numbers (`"user_id": 1`), the others'
/// strings. A number is the user whose token `sub` is its decimal digits.
fn seed_user_id<'de, D: Deserializer<'de>>(deserializer: D) -> Result<UserId, D::Error> {
    let text = match Value::deserialize(deserializer)? {
        Value::String(text) => text,
        Value::Number(number) if number.is_u64() || number.is_i64() => number.to_string(),
        _ => {
            return Err(serde::de::Error::custom(
                "must be a whole number or a string",
            ));
        }
    };
    UserId::parse(&text).map_err(|error| serde::de::Error::custom(error.reason))
}

fn optional_seed_user_id<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<UserId>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapped(#[serde(deserialize_with = "seed_user_id")] UserId);
    Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|Wrapped(id)| id))
}

/// Page `wanted` of a list read cursor page by cursor page, counting only what `keep`
/// keeps; also whether anything comes after it. Reaching page N reads every page before
/// it, which is why [`PageNumber::LAST`] bounds N.
async fn numbered<T, F, Fut>(
    wanted: PageNumber,
    keep: impl Fn(&T) -> bool,
    mut fetch: F,
) -> ServiceResult<(Vec<T>, bool)>
where
    F: FnMut(Option<Cursor>) -> Fut,
    Fut: Future<Output = ServiceResult<Page<T>>>,
{
    let (mut skip, limit) = (wanted.skip(), wanted.limit.get());
    let mut items = Vec::with_capacity(limit);
    let mut cursor = None;
    loop {
        let page = fetch(cursor.take()).await?;
        for item in page.items.into_iter().filter(|item| keep(item)) {
            if skip > 0 {
                skip -= 1;
            } else if items.len() == limit {
                return Ok((items, true));
            } else {
                items.push(item);
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok((items, false)),
        }
    }
}

/// A numbered page as the seed routes answer it.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct NumberedPage<T> {
    items: Vec<T>,
    page: usize,
    limit: usize,
    has_more: bool,
}

impl<T> NumberedPage<T> {
    fn new(items: Vec<T>, wanted: PageNumber, has_more: bool) -> Self {
        Self {
            items,
            page: wanted.page,
            limit: wanted.limit.get(),
            has_more,
        }
    }
}

#[cfg(test)]
mod tests {
    use chat_core::domain::PageLimit;

    use super::*;

    fn wanted(page: usize, limit: usize) -> PageNumber {
        PageNumber {
            page,
            limit: PageLimit::new(limit).expect("a limit"),
        }
    }

    /// 0..n in cursor pages of three, the cursor being the next index.
    async fn listed(n: usize, page: PageNumber, keep: fn(&usize) -> bool) -> (Vec<usize>, bool) {
        numbered(page, keep, |cursor: Option<Cursor>| async move {
            let start: usize =
                cursor.map_or(0, |c| c.decode().expect("ours").parse().expect("an index"));
            let end = (start + 3).min(n);
            Ok(Page {
                items: (start..end).collect(),
                next_cursor: (end < n).then(|| Cursor::encode(&end.to_string())),
            })
        })
        .await
        .expect("listed")
    }

    #[tokio::test]
    async fn a_numbered_page_skips_the_pages_before_it_across_cursor_pages() {
        assert_eq!(
            listed(10, wanted(1, 4), |_| true).await,
            (vec![0, 1, 2, 3], true)
        );
        assert_eq!(
            listed(10, wanted(2, 4), |_| true).await,
            (vec![4, 5, 6, 7], true)
        );
        assert_eq!(
            listed(10, wanted(3, 4), |_| true).await,
            (vec![8, 9], false)
        );
        assert_eq!(
            listed(8, wanted(2, 4), |_| true).await,
            (vec![4, 5, 6, 7], false)
        );
        assert_eq!(listed(10, wanted(9, 4), |_| true).await, (vec![], false));
        let even = |n: &usize| n.is_multiple_of(2);
        assert_eq!(listed(10, wanted(2, 2), even).await, (vec![4, 6], true));
    }

    #[test]
    fn a_seed_user_id_is_a_number_or_a_string() {
        #[derive(Deserialize, Debug)]
        struct Body {
            #[serde(deserialize_with = "seed_user_id")]
            user_id: UserId,
        }
        let parse = |json: &str| serde_json::from_str::<Body>(json).map(|b| b.user_id);
        assert_eq!(parse(r#"{"user_id": 1}"#).expect("a number").as_str(), "1");
        assert_eq!(
            parse(r#"{"user_id": "ann"}"#).expect("a string").as_str(),
            "ann"
        );
        assert!(parse(r#"{"user_id": 1.5}"#).is_err());
        assert!(parse(r#"{"user_id": true}"#).is_err());
    }
}
