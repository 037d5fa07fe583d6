//! The local server: plays API Gateway on a laptop so the real handlers of `functions/` run
//! unchanged, on the embedded store by default or on a DynamoDB-compatible endpoint.

mod blobs;
mod gateway_common;
pub mod http_api;
mod invoker;
mod sweep;
mod web;
pub mod ws_api;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use chat_aws::{ApiGatewayPusher, DynamoStore, S3BlobStore, dynamodb};
use chat_core::auth::{Authenticator, Claims, issue_hs256};
use chat_core::compose::{Adapters, PusherFactory, Services};
use chat_core::config::{Config, Environment, Source, optional};
use chat_core::domain::{Principal, Timestamp};
use chat_core::ports::{BlobStore, Invoker, Job, NoKeySets, Pusher, Store, SystemClock};
use chat_core::service::ChatService;
use chat_embedded::{EmbeddedStore, LocalBlobStore};
use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::http_api::{HttpApiOptions, Route, router_handler};
use crate::ws_api::{AuthorizerHandler, RouteHandler, WsApiOptions, WsRoutes};

/// The secret used when `JWT_SECRET` is not set: fine on a laptop, never deployed.
pub const DEVELOPMENT_SECRET: &str = "chat-local-development-secret-do-not-deploy";

/// How `chat-local` writes its log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Starts writing log lines to stdout in `format`, at `RUST_LOG`'s levels (default info,
/// the AWS SDK's chatter at warn).
pub fn init_logging(format: LogFormat) {
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    // Only fails when a subscriber is set already, which then keeps logging.
    let _ = tracing::subscriber::set_global_default(log_subscriber(format, std::io::stdout, ansi));
}

/// The subscriber [`init_logging`] installs, writing to `writer` (tests read it).
pub fn log_subscriber<W>(
    format: LogFormat,
    writer: W,
    ansi: bool,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,aws_smithy_runtime=warn,aws_config=warn".into());
    let lines = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Json => Box::new(lines.json().with_current_span(true).finish()),
        LogFormat::Text => Box::new(lines.with_target(false).with_ansi(ansi).finish()),
    }
}

#[derive(Debug, Clone, Parser)]
#[command(
    name = "chat-local",
    about = "The chat backend on a laptop: plays API Gateway and runs the real handlers"
)]
pub struct Options {
    /// How log lines are written: `text`, one readable line each, or `json`, one object
    /// each, as the deployed functions write them.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "CHAT_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Port of the REST API (API Gateway's HTTP API).
    #[arg(long, default_value_t = 3000, env = "CHAT_HTTP_PORT")]
    pub http_port: u16,
    /// Port of the WebSocket API and its @connections management API.
    #[arg(long, default_value_t = 3001, env = "CHAT_WS_PORT")]
    pub ws_port: u16,
    /// Use the DynamoDB-compatible endpoint at this URL instead of the embedded store
    /// (the table is created if absent).
    #[arg(long, env = "CHAT_DYNAMODB_ENDPOINT")]
    pub dynamodb_endpoint: Option<String>,
    /// The table to use with --dynamodb-endpoint.
    #[arg(long, default_value = "chat-local", env = "TABLE_NAME")]
    pub table: String,
    /// Seconds a WebSocket may stay silent before it is closed (API Gateway: 10 minutes).
    #[arg(long, default_value_t = 600, hide = true)]
    pub ws_idle_seconds: u64,
    /// Seconds a WebSocket may live (API Gateway: 2 hours).
    #[arg(long, default_value_t = 7200, hide = true)]
    pub ws_lifetime_seconds: u64,
    /// A JSON array of chatbots to create or update at start (what `POST /chatbots`
    /// takes); the default chatbot, `assistant`, exists without one.
    #[arg(long, value_name = "FILE")]
    pub chatbots: Option<std::path::PathBuf>,
    /// Where uploaded files are kept (a fresh temporary folder by default).
    #[arg(long, env = "CHAT_BLOB_DIR")]
    pub blob_dir: Option<std::path::PathBuf>,
    /// Keep files in the S3-compatible endpoint at this URL instead of a local folder
    /// (the bucket is created if absent).
    #[arg(long, env = "CHAT_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// The bucket to use with --s3-endpoint.
    #[arg(long, default_value = "chat-local", env = "ATTACHMENTS_BUCKET")]
    pub bucket: String,
    /// A configuration variable (README, "Configuration") set for this server only, over
    /// the environment: `--set RATE_USER_BURST=100`. Repeatable.
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = setting)]
    pub settings: Vec<(String, String)>,
    /// The web client's "Sign in with your provider": an OAuth 2.0 authorization endpoint
    /// (code flow with PKCE, e.g. a Cognito user pool domain's `/oauth2/authorize`), with
    /// --oidc-token-url and --oidc-client-id; its ID tokens must verify here.
    #[arg(long, env = "CHAT_OIDC_AUTHORIZE_URL", requires_all = ["oidc_token_url", "oidc_client_id"])]
    pub oidc_authorize_url: Option<String>,
    #[arg(long, env = "CHAT_OIDC_TOKEN_URL")]
    pub oidc_token_url: Option<String>,
    #[arg(long, env = "CHAT_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,
    /// Seconds between sweeps (idle sessions, stale uploads, dead connections); 0: none
    /// but those `POST /_local/sweep` asks for.
    #[arg(long, default_value_t = 60, env = "CHAT_SWEEP_SECONDS")]
    pub sweep_seconds: u64,
    /// The HS256 secret tokens are signed with.
    #[arg(long, env = "JWT_SECRET", default_value = DEVELOPMENT_SECRET, hide_default_value = true, hide_env_values = true)]
    pub jwt_secret: String,
    /// Sees every WebSocket text frame, both ways: the end-to-end suites validate them
    /// against docs/schema/. Not a flag.
    #[arg(skip)]
    pub frame_tap: Option<ws_api::FrameTap>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Print a token signed with the server's secret, for trying the API.
    Token(TokenRequest),
}

#[derive(Debug, Clone, Args)]
pub struct TokenRequest {
    /// The user id (the token's `sub`).
    #[arg(long, default_value = "dev-user")]
    pub sub: String,
    /// user, agent, admin, service or visitor.
    #[arg(long, default_value = "user")]
    pub role: String,
    /// Display name.
    #[arg(long)]
    pub name: Option<String>,
    /// Business id, for agents and visitors.
    #[arg(long)]
    pub org: Option<String>,
    /// Hours until it expires.
    #[arg(long, default_value_t = 24)]
    pub hours: u64,
}

/// An answer of chat-local's own routes (`/_local/...`), in the REST API's error shape.
pub(crate) fn local_error(
    status: http::StatusCode,
    code: &str,
    message: &str,
) -> axum::response::Response {
    let body = serde_json::json!({"error": {"code": code, "message": message}});
    axum::response::IntoResponse::into_response((status, axum::Json(body)))
}

/// Signs a development token.
pub fn mint_token(
    secret: &str,
    request: &TokenRequest,
) -> Result<String, chat_core::auth::AuthError> {
    let now = Timestamp::now();
    let claims = Claims {
        sub: request.sub.clone(),
        exp: now
            .plus(Duration::from_secs(request.hours.saturating_mul(3600)))
            .unix_seconds(),
        iat: Some(now.unix_seconds()),
        role: Some(request.role.clone()),
        name: request.name.clone(),
        org: request.org.clone(),
        iss: None,
        aud: None,
    };
    issue_hs256(&claims, secret.as_bytes())
}

/// A server started by `start`.
pub struct Running {
    pub http_addr: SocketAddr,
    pub ws_addr: SocketAddr,
    store_description: String,
    files_description: String,
    model_description: String,
    store: Arc<dyn Store>,
    blobs: Arc<LocalBlobStore>,
    files: Arc<dyn BlobStore>,
    jwt_secret: String,
    shutdown: tokio::sync::watch::Sender<bool>,
    server: JoinHandle<()>,
}

impl Running {
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.ws_addr)
    }

    /// The blob store the server plays S3 with.
    pub fn blobs(&self) -> Arc<LocalBlobStore> {
        self.blobs.clone()
    }

    /// Where the server keeps files: its own folder, or the S3-compatible endpoint.
    pub fn files(&self) -> Arc<dyn BlobStore> {
        self.files.clone()
    }

    /// The store behind the server, for tests that arrange what no client can (a
    /// connection whose socket vanished without `$disconnect`).
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// What a newcomer needs to start: where things are and a token to try them with.
    /// What the server prints when it starts. No token: a log is read by more people
    /// than the server's users, so it says how to make one instead.
    pub fn banner(&self) -> String {
        let secret_note = if self.jwt_secret == DEVELOPMENT_SECRET {
            format!("{DEVELOPMENT_SECRET} (the development default; set JWT_SECRET to change it)")
        } else {
            "from JWT_SECRET".to_owned()
        };
        format!(
            "chat-local is running: a development server, on loopback only\n  web client     http://{http}/  (open it: sign in with any name)\n  REST API       http://{http}\n  WebSocket API  ws://{ws}  (management API: http://{ws}/@connections/{{id}})\n  store          {store}\n  files          {files}\n  bot model      {model}\n  JWT secret     {secret_note}\n\nA token (printed to your terminal, not this log):\n  cargo run -q -p chat-local -- token --sub ann --name Ann\n\nTry it:\n  TOKEN=$(cargo run -q -p chat-local -- token --sub ann --name Ann)\n  curl -s http://{http}/sessions -H \"authorization: Bearer $TOKEN\"\n",
            http = self.http_addr,
            ws = self.ws_addr,
            store = self.store_description,
            files = self.files_description,
            model = self.model_description,
        )
    }

    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let _ = self.server.await;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("cannot use DynamoDB at {0}: {1}")]
    Store(String, String),
    #[error("{0}")]
    Config(String),
}

/// Creates or updates the chatbots `path` lists, as an admin would over REST.
async fn load_chatbots(chat: &ChatService, path: &std::path::Path) -> Result<(), StartError> {
    let problem = |e: String| StartError::Config(format!("--chatbots {}: {e}", path.display()));
    let json = std::fs::read_to_string(path).map_err(|e| problem(e.to_string()))?;
    let admin = Principal::from_claims("chat-local", Some("admin"), None, None)
        .map_err(|e| problem(e.to_string()))?;
    for (id, settings) in chat_rest::parse_chatbot_file(&json).map_err(problem)? {
        chat.put_chatbot(&admin, id.clone(), settings)
            .await
            .map_err(|e| problem(format!("chatbot {id}: {e}")))?;
    }
    Ok(())
}

/// Starts the servers; port 0 picks free ports (as the tests do).
pub async fn start(options: Options) -> Result<Running, StartError> {
    start_with(options, Parts::default()).await
}

/// Starts the servers on a store the caller built (benchmarks count its requests).
pub async fn start_with_store(
    options: Options,
    store: Arc<dyn Store>,
    store_description: String,
) -> Result<Running, StartError> {
    let parts = Parts {
        store: Some((store, store_description)),
        ..Parts::default()
    };
    start_with(options, parts).await
}

/// What a caller builds in place of the server's own, for tests: no flag sets these.
#[derive(Default)]
pub struct Parts {
    /// The store, and how the banner names it.
    pub store: Option<(Arc<dyn Store>, String)>,
    /// A Management API every push goes through instead of the server's own
    /// @connections: a stand-in that fails on command, in front of the real one.
    pub management_endpoint: Option<String>,
    /// Where every function's services record their metrics (none by default: locally
    /// there is no CloudWatch to read them).
    pub metrics: Option<Arc<dyn chat_core::metrics::Metrics>>,
}

/// Starts the servers with the parts the caller built.
pub async fn start_with(options: Options, parts: Parts) -> Result<Running, StartError> {
    let (store, store_description) = match parts.store {
        Some(built) => built,
        None => store(&options).await?,
    };
    let mut config = Config::from_source(&LocalSource(&options))
        .map_err(|e| StartError::Config(e.to_string()))?;
    let management_delay = management_delay(&options)?;
    let http_listener = bind(options.http_port).await?;
    let ws_listener = bind(options.ws_port).await?;
    let http_addr = local_addr(&http_listener, options.http_port)?;
    let ws_addr = local_addr(&ws_listener, options.ws_port)?;

    let blob_root = options.blob_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("chat-local-blobs-{}", std::process::id()))
    });
    let local_blobs = Arc::new(LocalBlobStore::new(
        blob_root.clone(),
        &format!("http://{http_addr}"),
        &blob_secret(),
    ));
    let (blobs, files_description) = files(&options, local_blobs.clone(), &blob_root).await?;

    // Asynchronous invocations (the welcome, bot replies) run in the background.
    let (invoker, jobs) = invoker::BackgroundInvoker::new();
    let invoker: Arc<dyn Invoker> = Arc::new(invoker);
    // Only a Bedrock model loads AWS configuration (and so may look for credentials).
    let bot_config = config
        .require_bot()
        .map_err(|e| StartError::Config(e.to_string()))?;
    let bot = bot::settings(bot_config, None).await;
    let model_description = bot.model.name();

    // REST broadcasts go through the WebSocket API's @connections, as a deployed sessions
    // function's go through API Gateway's.
    let management = parts
        .management_endpoint
        .unwrap_or_else(|| format!("http://{ws_addr}"));
    // Every push goes to this server's own @connections, whatever `Host` a client sent:
    // an event's endpoint is built from that header, which the client chooses.
    config.websocket_endpoint = Some(management.clone());
    let pushers: PusherFactory =
        Arc::new(|endpoint| Arc::new(ApiGatewayPusher::local(endpoint)) as Arc<dyn Pusher>);
    let adapters = Adapters {
        store: store.clone(),
        pushers,
        blobs: Some(blobs.clone()),
        bot_invoker: Some(invoker.clone()),
        clock: Arc::new(SystemClock),
    };
    // Each function builds its own services, as each Lambda does at its cold start.
    let metrics = parts.metrics.clone();
    let services = || {
        let services = Services::new(&config, adapters.clone());
        match &metrics {
            Some(metrics) => services.with_metrics(metrics.clone()),
            None => services,
        }
    };
    let rest = chat_rest::State::new(&config, &services(), &management, Arc::new(NoKeySets));
    let max_blob = usize::try_from(config.limits.uploads.max_bytes).unwrap_or(usize::MAX);
    let sweeper = Arc::new(sweeper::App::new(services(), &config, management.clone()));
    let http_router = blobs::router(local_blobs.clone(), max_blob)
        .merge(sweep::router(sweeper.clone()))
        .merge(web::router(
            web::client_config(
                &format!("http://{http_addr}"),
                &format!("ws://{ws_addr}"),
                &options,
            ),
            &options.jwt_secret,
        ))
        .merge(http_api::routed(
            http_routes(&rest),
            router_handler(chat_rest::sessions(rest)),
            HttpApiOptions::default(),
        ));

    if let Some(path) = &options.chatbots {
        load_chatbots(&services().for_endpoint(&management), path).await?;
    }

    let authenticator = Arc::new(Authenticator::new(
        config.auth_config(),
        Arc::new(NoKeySets),
    ));
    let connect = Arc::new(connect::App {
        services: services(),
        invoker: invoker.clone(),
        dialect: config.ws_dialect,
    });
    let bot = Arc::new(bot::App::new(
        services(),
        bot,
        management.clone(),
        Box::pin(bot::embedder(config.embeddings.as_ref(), None)).await,
    ));
    invoker::serve(jobs, job_handler(Arc::downgrade(&connect), bot));
    let ws_router = ws_api::router(
        websocket_routes(
            authenticator,
            connect,
            Arc::new(services()),
            Arc::new(services()),
        ),
        WsApiOptions {
            idle_timeout: Duration::from_secs(options.ws_idle_seconds),
            max_lifetime: Duration::from_secs(options.ws_lifetime_seconds),
            management_delay,
            frame_tap: options.frame_tap.clone().map(|tap| ws_api::FrameTap {
                default_dialect: config.ws_dialect,
                ..tap
            }),
            ..WsApiOptions::default()
        },
    );

    let (shutdown, stopped) = tokio::sync::watch::channel(false);
    if options.sweep_seconds > 0 {
        sweep::run_on_timer(
            sweeper,
            Duration::from_secs(options.sweep_seconds),
            stopped.clone(),
        );
    }
    let server = tokio::spawn(async move {
        let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        let http = axum::serve(
            without_delay(http_listener),
            http_router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(until_stopped(stopped.clone()));
        let ws = axum::serve(
            without_delay(ws_listener),
            ws_router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(until_stopped(stopped));
        if let Err(error) = tokio::try_join!(http.into_future(), ws.into_future()) {
            tracing::error!(%error, "the local server stopped");
        }
    });
    Ok(Running {
        http_addr,
        ws_addr,
        store_description,
        files_description,
        model_description,
        store,
        blobs: local_blobs,
        files: blobs,
        jwt_secret: options.jwt_secret,
        shutdown,
        server,
    })
}

/// The HTTP API's routes to the `uploads` function, as the template routes them; every
/// other request goes to `sessions`.
fn http_routes(state: &Arc<chat_rest::State>) -> Vec<Route> {
    let uploads = router_handler(chat_rest::uploads(state.clone()));
    chat_rest::uploads::ROUTES
        .iter()
        .map(|key| Route::new(key, uploads.clone()))
        .collect()
}

/// Files in the local folder the HTTP port serves (the default), or in an S3-compatible
/// endpoint.
async fn files(
    options: &Options,
    local: Arc<LocalBlobStore>,
    root: &std::path::Path,
) -> Result<(Arc<dyn BlobStore>, String), StartError> {
    let Some(endpoint) = &options.s3_endpoint else {
        return Ok((local, format!("folder {}", root.display())));
    };
    let s3 = S3BlobStore::local(endpoint, options.bucket.clone());
    s3.create_bucket_if_absent()
        .await
        .map_err(|e| StartError::Config(format!("cannot use S3 at {endpoint}: {e}")))?;
    Ok((
        Arc::new(s3),
        format!("S3 at {endpoint}, bucket {}", options.bucket),
    ))
}

/// The configuration chat-local runs with: its flags over the environment. What it plays
/// itself is left out (the WebSocket endpoint, the bot function, Lambda's own name), and so
/// is a JWKS: it signs its own tokens with the HS256 secret, with no issuer or audience.
struct LocalSource<'a>(&'a Options);

/// Milliseconds every post to @connections waits before it delivers, to play API
/// Gateway's round trip in benchmarks (docs/benchmarks.md); none unless set.
pub const MANAGEMENT_DELAY_VARIABLE: &str = "CHAT_MANAGEMENT_DELAY_MS";

/// [`MANAGEMENT_DELAY_VARIABLE`], from `--set` or the environment as other variables are:
/// a variable, not a flag, so that callers building `Options` field by field need not change.
fn management_delay(options: &Options) -> Result<Duration, StartError> {
    let Some(text) = LocalSource(options).get(MANAGEMENT_DELAY_VARIABLE) else {
        return Ok(Duration::ZERO);
    };
    text.trim().parse().map(Duration::from_millis).map_err(|_| {
        StartError::Config(format!(
            "{MANAGEMENT_DELAY_VARIABLE}: expected milliseconds, got {text:?}"
        ))
    })
}

/// `NAME=VALUE`, for `--set`.
fn setting(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err("expected NAME=VALUE".to_owned()),
    }
}

impl Source for LocalSource<'_> {
    fn get(&self, name: &str) -> Option<String> {
        let options = self.0;
        if let Some((_, value)) = options.settings.iter().rev().find(|(key, _)| key == name) {
            return Some(value.clone());
        }
        match name {
            "JWT_SECRET" => Some(options.jwt_secret.clone()),
            "TABLE_NAME" => Some(options.table.clone()),
            "DYNAMODB_ENDPOINT" => options.dynamodb_endpoint.clone(),
            "ATTACHMENTS_BUCKET" => options.s3_endpoint.as_ref().map(|_| options.bucket.clone()),
            "JWKS_URL"
            | "JWT_ISSUER"
            | "JWT_AUDIENCE"
            | "WEBSOCKET_ENDPOINT"
            | "BOT_FUNCTION_NAME"
            | "AWS_LAMBDA_FUNCTION_NAME" => None,
            // Offline by default: the echo model.
            "BOT_PROVIDER" => {
                optional(&Environment, "BOT_PROVIDER").or_else(|| Some("echo".into()))
            }
            _ => Environment.get(name),
        }
    }
}

/// Sends each background job to the function Lambda would invoke: the welcome to
/// `connect` (which invoked itself), bot replies and indexing to `bot`.
fn job_handler(connect: std::sync::Weak<connect::App>, bot: Arc<bot::App>) -> invoker::JobHandler {
    Arc::new(move |job| {
        let connect = connect.clone();
        let bot = bot.clone();
        Box::pin(async move {
            let span = chat_apigw::job_span(&job);
            let work = async move {
                match job {
                    Job::Welcome { .. } => match connect.upgrade() {
                        Some(connect) => connect::handle_job(&connect, job).await,
                        None => Ok(()),
                    },
                    Job::BotReply { .. }
                    | Job::IndexDocument { .. }
                    | Job::IndexLibraryDocument { .. } => bot::handle(&bot, job).await,
                }
            };
            chat_apigw::observed(span, work).await
        })
    })
}

/// The four WebSocket functions, wired as API Gateway routes them.
fn websocket_routes(
    authenticator: Arc<Authenticator>,
    connect: Arc<connect::App>,
    disconnect_services: Arc<Services>,
    message_services: Arc<Services>,
) -> WsRoutes {
    let authorizer: AuthorizerHandler = Arc::new(move |event| {
        let authenticator = authenticator.clone();
        let span = chat_apigw::invocation_span("authorize", None);
        Box::pin(chat_apigw::observed(span, async move {
            authorizer::handle(&authenticator, event).await
        }))
    });
    let on_connect: RouteHandler = Arc::new(move |event| {
        let connect = connect.clone();
        let span = chat_apigw::websocket_span(&event);
        Box::pin(chat_apigw::observed(span, async move {
            connect::handle_connect(&connect, event).await
        }))
    });
    let on_disconnect: RouteHandler = Arc::new(move |event| {
        let services = disconnect_services.clone();
        let span = chat_apigw::websocket_span(&event);
        Box::pin(chat_apigw::observed(span, async move {
            disconnect::handle(&services, event).await
        }))
    });
    let on_message: RouteHandler = Arc::new(move |event| {
        let services = message_services.clone();
        let span = chat_apigw::websocket_span(&event);
        Box::pin(chat_apigw::observed(span, async move {
            message::handle(&services, event).await
        }))
    });
    WsRoutes {
        authorizer: Some(authorizer),
        connect: Some(on_connect),
        disconnect: Some(on_disconnect),
        default: Some(on_message),
        named: Default::default(),
    }
}

/// A fresh key per run for the blob URLs: they need to verify only within this process.
fn blob_secret() -> [u8; 32] {
    rand::random()
}

/// Small frames and responses leave at once: with Nagle's algorithm each would wait for
/// the peer's delayed acknowledgement, tens of milliseconds per post of a broadcast.
fn without_delay(
    listener: TcpListener,
) -> axum::serve::TapIo<TcpListener, fn(&mut tokio::net::TcpStream)> {
    use axum::serve::ListenerExt;
    listener.tap_io(|stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
    })
}

fn local_addr(listener: &TcpListener, port: u16) -> Result<SocketAddr, StartError> {
    listener
        .local_addr()
        .map_err(|e| StartError::Bind(loopback(port), e))
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

async fn bind(port: u16) -> Result<TcpListener, StartError> {
    TcpListener::bind(loopback(port))
        .await
        .map_err(|e| StartError::Bind(loopback(port), e))
}

async fn store(options: &Options) -> Result<(Arc<dyn Store>, String), StartError> {
    let Some(endpoint) = &options.dynamodb_endpoint else {
        return Ok((
            Arc::new(EmbeddedStore::new()),
            "embedded (in memory; gone when the server stops)".into(),
        ));
    };
    let store = DynamoStore::new(&dynamodb::local_client(endpoint), options.table.clone());
    store
        .create_table_if_absent()
        .await
        .map_err(|e| StartError::Store(endpoint.clone(), e.to_string()))?;
    Ok((
        Arc::new(store),
        format!("DynamoDB at {endpoint}, table {}", options.table),
    ))
}
