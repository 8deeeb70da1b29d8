//! Selectors: which series a query reads (PromQL-style `metric{label="value", ...}`), their
//! parsing and their matching against label sets. Results are in [`crate::store`].

pub mod selector;
