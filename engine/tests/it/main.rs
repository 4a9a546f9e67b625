//! Engine tests: the policy attack suite, run as several principals against real files.

mod attacks;
mod fixture;
mod slt;
