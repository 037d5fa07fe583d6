//! What the adapters' test suites share: the store conformance cases, stated once and run
//! against every store adapter, and the model adapters' helpers.

pub mod conformance;
pub mod models;
