//! What keeps one query inside the server's limits, whatever its SQL.
//!
//! - [`shape`]: statements whose plans would nest too deep or grow too large are refused
//!   before planning.
//! - [`runner`]: queries run on threads of their own with stacks that hold the deepest
//!   statement allowed; the deadline holds and a panic fails only its query.

pub mod runner;
pub mod shape;
