//! The common crate of the chat backend: everything the Lambda functions and the local
//! server share. Functions parse their events, call in here, and map the result.

pub mod adapters;
pub mod auth;
pub mod config;
pub mod domain;
pub mod gateway;
pub mod ports;
pub mod protocol;
pub mod service;
