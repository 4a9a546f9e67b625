//! Engine tests: the policy attack suite, run as several principals against real files.

mod attacks;
mod differential;
mod differential_data;
mod fixture;
mod slt;
