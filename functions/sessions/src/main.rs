//! The `sessions` Lambda: the REST API behind API Gateway's HTTP API.

use std::sync::Arc;

use lambda_http::{Error, run, service_fn};
use sessions::{App, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let app = Arc::new(App::from_env().await?);
    run(service_fn(move |request| handle(app.clone(), request))).await
}
