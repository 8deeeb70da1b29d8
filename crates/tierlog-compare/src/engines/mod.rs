//! One adapter per engine.

pub mod sqlite;
pub mod tierlog;
pub mod tsink;
pub mod victoria;
