//! The store conformance suite (`chat-testkit`) against DynamoDB, when
//! `CHAT_DYNAMODB_ENDPOINT` names one (`infra/test.sh` starts moto and sets it, with
//! `CHAT_REQUIRE_DYNAMODB=1` so an unreachable endpoint fails the run instead of skipping
//! it). Test names say the adapter: `dynamodb::...` (the embedded store's suite is
//! `embedded::...`).

use std::sync::Arc;

use chat_aws::{DynamoStore, dynamodb};
use chat_core::domain::{SessionId, Timestamp};
use chat_core::ports::Store;
use chat_testkit::conformance;
use libtest_mimic::{Arguments, Trial};

const ENDPOINT_VAR: &str = "CHAT_DYNAMODB_ENDPOINT";
const REQUIRE_VAR: &str = "CHAT_REQUIRE_DYNAMODB";

fn main() {
    let args = Arguments::from_args();
    let endpoint = std::env::var(ENDPOINT_VAR).ok().filter(|e| !e.is_empty());
    let required = std::env::var(REQUIRE_VAR).is_ok_and(|v| v == "1");
    let trials = match endpoint {
        Some(endpoint) => conformance::trials("dynamodb", move || fresh_table(endpoint.clone())),
        None if required => vec![Trial::test("dynamodb::endpoint_is_configured", || {
            Err(format!("{REQUIRE_VAR}=1 but {ENDPOINT_VAR} is not set").into())
        })],
        None => {
            eprintln!(
                "\nNOTE: the DynamoDB conformance suite was NOT run: {ENDPOINT_VAR} is not set. \
                 Run infra/test.sh to run it against moto.\n"
            );
            conformance::names()
                .map(|name| {
                    Trial::test(format!("dynamodb::{name}"), || Ok(())).with_ignored_flag(true)
                })
                .collect()
        }
    };
    libtest_mimic::run(&args, trials).exit();
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
