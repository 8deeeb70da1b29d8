//! Queries: selectors (parsing and matching) and query results.

pub mod selector;
