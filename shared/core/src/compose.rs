//! The one composition root: a complete [`Config`] and the adapters a deployment chose
//! (DynamoDB or the embedded store, S3 or a local folder, API Gateway's Management API or
//! the local server's, Lambda's invoke or a background task) become the services every
//! function and the local server run. Nothing else wires services together.

use std::sync::{Arc, Mutex};

use crate::config::{Config, RateLimits};
use crate::metrics::{Metrics, NoMetrics};
use crate::moderation::Moderator;
use crate::ports::{BlobStore, Clock, Invoker, Pusher, Store};
use crate::service::{ChatService, ChatbotPolicy, Files};

/// Makes a pusher for a management endpoint (a function may serve more than one API).
pub type PusherFactory = Arc<dyn Fn(&str) -> Arc<dyn Pusher> + Send + Sync>;

/// The adapters chosen, each behind its port.
#[derive(Clone)]
pub struct Adapters {
    pub store: Arc<dyn Store>,
    pub pushers: PusherFactory,
    /// Where attachments' bytes go; `None` in a deployment without files.
    pub blobs: Option<Arc<dyn BlobStore>>,
    /// Starts bot replies; `None`, bot sessions get none.
    pub bot_invoker: Option<Arc<dyn Invoker>>,
    pub clock: Arc<dyn Clock>,
}

/// The chat service for the endpoint events arrive through, built once per endpoint (a
/// function serves one API, so in practice once per cold start).
pub struct Services {
    adapters: Adapters,
    files: Option<Files>,
    /// Overrides the endpoint events name (`WEBSOCKET_ENDPOINT`, e.g. behind a custom
    /// domain, whose events still post to the execute-api endpoint).
    fixed_endpoint: Option<String>,
    chatbots: ChatbotPolicy,
    rates: RateLimits,
    /// Built once from `MODERATION_*`; every service made here shares it.
    moderator: Arc<Moderator>,
    readers: crate::service::DocumentReaders,
    metrics: Arc<dyn Metrics>,
    current: Mutex<Option<(String, ChatService)>>,
}

impl Services {
    pub fn new(config: &Config, adapters: Adapters) -> Self {
        let files = adapters.blobs.clone().map(|blobs| Files {
            blobs,
            policy: config.limits.uploads.clone(),
        });
        Self {
            files,
            fixed_endpoint: config.websocket_endpoint.clone(),
            chatbots: ChatbotPolicy::from_config(config),
            rates: config.limits.rates,
            moderator: Arc::new(Moderator::new(config.moderation.clone())),
            readers: crate::service::DocumentReaders::default(),
            metrics: Arc::new(NoMetrics),
            adapters,
            current: Mutex::new(None),
        }
    }

    /// The same services reading the files they index with `readers` (the bot's read PDF,
    /// and may embed).
    pub fn with_readers(self, readers: crate::service::DocumentReaders) -> Self {
        Self {
            readers,
            current: Mutex::new(None),
            ..self
        }
    }

    /// The same services recording what they do in `metrics` (CloudWatch's, in Lambda).
    pub fn with_metrics(self, metrics: Arc<dyn Metrics>) -> Self {
        Self {
            metrics,
            current: Mutex::new(None),
            ..self
        }
    }

    pub fn metrics(&self) -> Arc<dyn Metrics> {
        self.metrics.clone()
    }

    pub fn clock(&self) -> Arc<dyn Clock> {
        self.adapters.clock.clone()
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.adapters.store.clone()
    }

    /// The service for events that came through `endpoint`, unless the configuration fixes
    /// the endpoint.
    pub fn for_origin(&self, endpoint: &str) -> ChatService {
        self.for_endpoint(self.endpoint_for_origin(endpoint))
    }

    /// The endpoint events that came through `endpoint` post through: the configured one,
    /// if any.
    pub fn endpoint_for_origin<'a>(&'a self, endpoint: &'a str) -> &'a str {
        self.fixed_endpoint.as_deref().unwrap_or(endpoint)
    }

    /// The service posting through exactly `endpoint`.
    pub fn for_endpoint(&self, endpoint: &str) -> ChatService {
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((known, service)) = current.as_ref()
            && known == endpoint
        {
            return service.clone();
        }
        let adapters = &self.adapters;
        let service = ChatService::new(
            adapters.store.clone(),
            (adapters.pushers)(endpoint),
            adapters.clock.clone(),
        )
        .with_files(self.files.clone())
        .with_bot_invoker(adapters.bot_invoker.clone())
        .with_chatbots(self.chatbots.clone())
        .with_rates(self.rates)
        .with_moderator(self.moderator.clone())
        .with_readers(self.readers.clone())
        .with_metrics(self.metrics.clone());
        *current = Some((endpoint.to_owned(), service.clone()));
        service
    }
}
