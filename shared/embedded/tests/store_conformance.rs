//! The store conformance suite (`chat-testkit`) against the embedded store: `embedded::...`.

use std::sync::Arc;

use chat_core::ports::Store;
use chat_embedded::EmbeddedStore;
use chat_testkit::conformance;
use libtest_mimic::Arguments;

fn main() {
    let trials = conformance::trials("embedded", || async {
        Ok(Arc::new(EmbeddedStore::new()) as Arc<dyn Store>)
    });
    libtest_mimic::run(&Arguments::from_args(), trials).exit();
}
