//! One store conformance suite, written once and run against every adapter: the embedded
//! store always, DynamoDB when `CHAT_DYNAMODB_ENDPOINT` names one (`infra/test.sh` starts
//! moto and sets it, with `CHAT_REQUIRE_DYNAMODB=1` so an unreachable endpoint fails the
//! run instead of skipping it). Test names say which adapter: `embedded::...`,
//! `dynamodb::...`.

mod cases;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chat_shared::adapters::{DynamoStore, EmbeddedStore, dynamodb};
use chat_shared::domain::{SessionId, Timestamp};
use chat_shared::ports::Store;
use libtest_mimic::{Arguments, Failed, Trial};

type CaseFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
type Case = fn(Arc<dyn Store>) -> CaseFuture;

const ENDPOINT_VAR: &str = "CHAT_DYNAMODB_ENDPOINT";
const REQUIRE_VAR: &str = "CHAT_REQUIRE_DYNAMODB";

fn main() {
    let args = Arguments::from_args();
    let mut trials: Vec<Trial> = cases::ALL
        .iter()
        .map(|&(name, case)| {
            Trial::test(format!("embedded::{name}"), move || {
                run(case, || async {
                    Ok(Arc::new(EmbeddedStore::new()) as Arc<dyn Store>)
                })
            })
        })
        .collect();

    let endpoint = std::env::var(ENDPOINT_VAR).ok().filter(|e| !e.is_empty());
    let required = std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1");
    match endpoint {
        Some(endpoint) => {
            for &(name, case) in cases::ALL {
                let endpoint = endpoint.clone();
                trials.push(Trial::test(format!("dynamodb::{name}"), move || {
                    run(case, move || fresh_table(endpoint))
                }));
            }
        }
        None if required => {
            trials.push(Trial::test("dynamodb::endpoint_is_configured", || {
                Err(format!("{REQUIRE_VAR}=1 but {ENDPOINT_VAR} is not set").into())
            }));
        }
        None => {
            eprintln!(
                "\nNOTE: the DynamoDB conformance suite was NOT run: {ENDPOINT_VAR} is not set. \
                 Run infra/test.sh to run it against moto.\n"
            );
            for &(name, _) in cases::ALL {
                trials.push(
                    Trial::test(format!("dynamodb::{name}"), || Ok(())).with_ignored_flag(true),
                );
            }
        }
    }
    libtest_mimic::run(&args, trials).exit();
}

/// Runs one case on its own multi-threaded runtime, so concurrent cases really race.
fn run<F, Fut>(case: Case, make_store: F) -> Result<(), Failed>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<Arc<dyn Store>, String>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let store = make_store().await?;
        tokio::spawn(case(store))
            .await
            .map_err(|e| panic_message(e.into_panic()))
    })?;
    Ok(())
}

/// Each case gets a table of its own, so cases cannot see each other's items.
async fn fresh_table(endpoint: String) -> Result<Arc<dyn Store>, String> {
    let client = dynamodb::local_client(&endpoint);
    let table = format!("conformance-{}", SessionId::new(Timestamp::now()));
    let store = DynamoStore::new(&client, table);
    store
        .create_table_if_absent()
        .await
        .map_err(|e| format!("cannot create a table at {endpoint}: {e:?}"))?;
    Ok(Arc::new(store))
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "the case panicked".to_owned())
}
