//! Tools around a tierlog store: the importers behind `tierlog ingest` and the dump and verify
//! walks behind `tierlog dump` and `tierlog verify`.
//!
//! - [`import`]: streaming parsers for Prometheus text exposition, OpenMetrics, InfluxDB line
//!   protocol and CSV, and [`import::ingest::ingest`], which writes any of them to a
//!   [`tierlog::Store`] in batches (with an external sort for `--replay`).
//! - [`inspect`]: [`inspect::verify_dir`] checks every file of a store with the engine's own
//!   decoders; [`inspect::dump_file`] lists a file's structures with offsets and lengths.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod import;
pub mod inspect;
