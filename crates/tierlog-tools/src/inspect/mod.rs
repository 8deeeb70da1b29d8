//! Inspection tools behind `tierlog dump` and `tierlog verify`. They use the library's own
//! decoders (never a second parser) and report offsets, lengths and checksum status.

mod dump;
mod verify;

pub use dump::{Dump, DumpItem, dump_bytes, dump_file};
pub use verify::{Problem, VerifyReport, verify_dir, verify_dir_on};

/// A value as JSON: a number, or `"NaN"`, `"+Inf"`, `"-Inf"` (the output contract).
pub fn json_f64(v: f64) -> serde_json::Value {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, serde_json::Value::Number)
    }
}
