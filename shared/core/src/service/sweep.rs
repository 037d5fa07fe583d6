//! The sweeper: ends idle sessions, removes uploads announced and never sent (with their
//! objects) and connections past their expiry. Each run does bounded work (pages of each
//! list, and a time budget), and is idempotent: every removal is conditional, so two runs at
//! once remove each thing once, and only the run that ended a session announces it.

use std::time::{Duration, Instant};

use super::{ChatService, ServiceResult};
use crate::domain::{SessionId, Timestamp, storage_key};
use crate::ports::error_chain;
use crate::protocol::ServerFrame;

/// How much a sweep does, and what is due.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SweepPolicy {
    /// `SESSION_IDLE_MINUTES`: a bot or support session without a message this long ends.
    pub session_idle: Duration,
    /// An upload announced this long ago and never sent goes.
    pub upload_age: Duration,
    /// Items read of each list at a time, and pages of them at most per run.
    pub page: usize,
    pub pages: usize,
    /// A run stops taking new pages after this long; the next run goes on.
    pub time_budget: Duration,
}

impl SweepPolicy {
    pub fn new(session_idle: Duration) -> Self {
        Self {
            session_idle,
            upload_age: Duration::from_secs(24 * 60 * 60),
            page: 100,
            pages: 10,
            time_budget: Duration::from_secs(20),
        }
    }
}

/// What one sweep did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    pub sessions_ended: usize,
    pub uploads_removed: usize,
    pub connections_removed: usize,
    /// Some list had more than this run took: the next run goes on.
    pub more: bool,
}

/// The lists a sweep works through.
#[derive(Clone, Copy, Debug)]
enum Due {
    IdleSessions,
    StaleUploads,
    ExpiredConnections,
}

/// Why a session ended, as `session_ended` says.
pub const IDLE_REASON: &str = "idle";

impl ChatService {
    /// One sweep as of `as_of` (now, or a given time for tests and people).
    pub async fn sweep(
        &self,
        as_of: Timestamp,
        policy: &SweepPolicy,
    ) -> ServiceResult<SweepReport> {
        let started = Instant::now();
        let mut report = SweepReport::default();
        for list in [
            Due::IdleSessions,
            Due::StaleUploads,
            Due::ExpiredConnections,
        ] {
            let before = match list {
                Due::IdleSessions => as_of.minus(policy.session_idle),
                Due::StaleUploads => as_of.minus(policy.upload_age),
                Due::ExpiredConnections => as_of,
            };
            let (removed, more) = self.drain(list, before, policy, started).await?;
            match list {
                Due::IdleSessions => report.sessions_ended = removed,
                Due::StaleUploads => report.uploads_removed = removed,
                Due::ExpiredConnections => report.connections_removed = removed,
            }
            report.more |= more;
        }
        tracing::info!(?report, "swept");
        Ok(report)
    }

    /// Takes pages of the list and removes what is due until the list runs dry, the
    /// pages are spent or the time is up: how many it removed, and whether it stopped
    /// with more to do.
    async fn drain(
        &self,
        list: Due,
        before: Timestamp,
        policy: &SweepPolicy,
        started: Instant,
    ) -> ServiceResult<(usize, bool)> {
        let mut removed = 0;
        for _ in 0..policy.pages {
            let (read, done) = self.sweep_page(list, before, policy.page).await?;
            removed += done;
            if read < policy.page {
                return Ok((removed, false));
            }
            if started.elapsed() >= policy.time_budget {
                break;
            }
        }
        Ok((removed, true))
    }

    /// One page of the list, each of its items removed if still due: how many were read,
    /// and how many this call removed.
    async fn sweep_page(
        &self,
        list: Due,
        before: Timestamp,
        page: usize,
    ) -> ServiceResult<(usize, usize)> {
        let mut removed = 0;
        let read = match list {
            Due::IdleSessions => {
                let idle = self.store.idle_sessions(before, page).await?;
                for id in &idle {
                    removed += usize::from(self.end_idle(*id, before).await?);
                }
                idle.len()
            }
            Due::StaleUploads => {
                let stale = self.store.stale_uploads(before, page).await?;
                for (session, id) in &stale {
                    if self.store.remove_stale_upload(*session, *id).await? {
                        removed += 1;
                        self.delete_stale_object(&storage_key(*session, *id)).await;
                    }
                }
                stale.len()
            }
            Due::ExpiredConnections => {
                let expired = self.store.expired_connections(before, page).await?;
                for id in &expired {
                    removed += usize::from(self.store.delete_connection(id).await?.is_some());
                }
                expired.len()
            }
        };
        Ok((read, removed))
    }

    /// Ends the session as `DELETE /sessions/{id}` does, if it is still idle: true when this
    /// call ended it.
    async fn end_idle(&self, id: SessionId, idle_before: Timestamp) -> ServiceResult<bool> {
        let Some(_) = self
            .store
            .end_idle_session(id, idle_before, self.clock.now())
            .await?
        else {
            return Ok(false);
        };
        self.announce_end(id, IDLE_REASON).await?;
        Ok(true)
    }

    /// The bytes of a removed upload: a failure leaves only an object nothing names.
    async fn delete_stale_object(&self, key: &str) {
        let Some(files) = self.files.as_ref() else {
            return;
        };
        if let Err(error) = files.blobs.delete(key).await {
            tracing::warn!(error = %error_chain(&error), %key, "cannot delete a stale upload's object");
        }
    }

    /// Tells the session's connections it ended, and closes them.
    pub(super) async fn announce_end(&self, id: SessionId, reason: &str) -> ServiceResult<()> {
        let delivery = self
            .fanout
            .close_session(id, &ServerFrame::session_ended(id, reason))
            .await?;
        tracing::info!(session = %id, reason, ?delivery, "session ended");
        Ok(())
    }
}
