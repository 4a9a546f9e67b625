//! End-to-end tests: the real server on a loopback port, driven by a real HTTP client.

mod admin;
mod bad_input;
mod cli;
mod database_kinds;
mod databases;
mod datasets;
mod dbs;
mod demo;
mod fixtures;
mod formats;
mod harness;
mod http_source;
mod limits;
mod policies;
mod s3;
mod sources;
