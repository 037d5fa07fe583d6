//! The `uploads` Lambda: the file routes of the HTTP API.

use std::sync::Arc;

use lambda_http::{Error, run, service_fn};
use sessions::App;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let app = App::from_env().await?;
    if !app.service.stores_files() {
        return Err("ATTACHMENTS_BUCKET is not set: the uploads function needs a bucket".into());
    }
    let app = Arc::new(app);
    run(service_fn(move |request| {
        uploads::handle(app.clone(), request)
    }))
    .await
}
