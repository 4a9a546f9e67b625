//! The tiaokuai server: CLI, HTTP API, start-up and the 开化县 demo.
//!
//! - [`http`]: the API of API.md; error mapping lives in `http::error`.
//! - [`format`]: one streaming encoder per response format.
//! - [`start`]: opening the catalog, bootstrapping `admin`, building the engine, serving.
//! - [`demo`]: the demo county, its villages' data and its principals.
//! - [`audit`]: signing the audit chain, and verifying it offline.
//! - [`client`]: the `tiaokuai query` client.
//! - [`traces`]: the log, and a request's spans sent to an OpenTelemetry collector.

pub mod audit;
pub mod client;
pub mod demo;
pub mod format;
pub mod http;
pub mod start;
pub mod traces;

pub use start::{ServerConfig, StartError, open, open_engine, serve};
