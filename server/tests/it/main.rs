//! End-to-end tests: the real server on a loopback port, driven by a real HTTP client.

mod admin;
mod audit_trail;
mod bad_input;
mod cli;
mod contract;
mod database_fixtures;
mod database_sources;
mod database_tables;
mod datasets;
mod demo;
mod fixtures;
mod formats;
mod handlers;
mod harness;
mod http_source;
mod limits;
mod peers;
mod policies;
mod policy_races;
mod process;
mod registration;
mod reports;
mod s3;
mod slow_clients;
mod sources;
mod tls_modes;
