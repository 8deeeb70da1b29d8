//! Column encodings for sealed segment chunks: pure bytes-in/bytes-out.
//!
//! A chunk is a timestamp column followed by a value column holding the same
//! number of points. Each column starts with a one-byte codec id and a varint
//! point count and is self-delimiting, so decoders report how many bytes they
//! consumed. The normative byte layout lives in `format-spec/codec.md`.
//!
//! Decoders never panic on arbitrary input: every length is checked before it
//! is read, counts above [`MAX_COLUMN_POINTS`] are refused before anything is
//! allocated, and all integer reconstruction uses wrapping arithmetic. On
//! error, the output vectors are restored to their length before the call.
//! Every strict prefix of a valid column or chunk fails with
//! [`CodecError::Truncated`].

pub(crate) mod bitpack;
mod slots;
/// For decoders outside the codec that store values in slots of their own (rollup codes).
pub(crate) use slots::{ValueSlot, divide_all};
mod timestamps;
pub(crate) mod values;
pub(crate) mod varbits;
pub(crate) mod varint;

#[cfg(test)]
mod tests;

pub use crate::error::CodecError;

/// Decoders refuse point counts above this.
pub const MAX_COLUMN_POINTS: usize = 1 << 16;


/// Timestamps: strictly increasing i64 (milliseconds). Appends a
/// self-describing encoding to `out`. Unsorted or repeated input is still
/// encoded losslessly in release builds.
pub fn encode_timestamps(ts: &[i64], out: &mut Vec<u8>) {
    debug_assert!(ts.len() <= MAX_COLUMN_POINTS, "too many timestamps");
    debug_assert!(
        ts.windows(2).all(|w| w[0] < w[1]),
        "timestamps not strictly increasing"
    );
    timestamps::encode(ts, out);
}

/// Decodes one timestamp column from the start of `input`; appends to `out`;
/// returns bytes consumed.
pub fn decode_timestamps(input: &[u8], out: &mut Vec<i64>) -> Result<usize, CodecError> {
    let start = out.len();
    let res = timestamps::decode(input, out);
    if res.is_err() {
        out.truncate(start);
    }
    res
}

/// Values: any f64 including NaN (any payload), ±Inf, -0.0; decode is
/// bit-exact. Picks the smallest of the applicable value codecs.
pub fn encode_values(values: &[f64], out: &mut Vec<u8>) {
    debug_assert!(values.len() <= MAX_COLUMN_POINTS, "too many values");
    values::encode(values, out);
}

/// Decodes one value column from the start of `input`; appends to `out`;
/// returns bytes consumed.
pub fn decode_values(input: &[u8], out: &mut Vec<f64>) -> Result<usize, CodecError> {
    let start = out.len();
    let res = values::decode(input, out);
    if res.is_err() {
        out.truncate(start);
    }
    res
}

/// A raw chunk = timestamp column followed by value column (same count).
pub fn encode_chunk(ts: &[i64], values: &[f64], out: &mut Vec<u8>) {
    debug_assert_eq!(ts.len(), values.len(), "chunk columns differ in length");
    encode_timestamps(ts, out);
    encode_values(values, out);
}

/// Decodes a whole chunk, appending to `ts` and `values`. Fails if the two
/// columns hold different counts or if bytes remain after the value column.
pub fn decode_chunk(
    input: &[u8],
    ts: &mut Vec<i64>,
    values: &mut Vec<f64>,
) -> Result<(), CodecError> {
    let (ts_start, v_start) = (ts.len(), values.len());
    let used = decode_chunk_prefix(input, ts, values)?;
    let extra = input.len() - used;
    if extra != 0 {
        ts.truncate(ts_start);
        values.truncate(v_start);
        return Err(CodecError::TrailingBytes { extra });
    }
    Ok(())
}

/// Decodes the two columns at the start of `input` like [`decode_chunk`], and returns the
/// bytes they take (what follows is the caller's: a raw segment's sums column).
pub fn decode_chunk_prefix(
    input: &[u8],
    ts: &mut Vec<i64>,
    values: &mut Vec<f64>,
) -> Result<usize, CodecError> {
    let (ts_start, v_start) = (ts.len(), values.len());
    let res = (|| {
        let used_ts = timestamps::decode(input, ts)?;
        let used_v = values::decode(&input[used_ts..], values)?;
        if ts.len() - ts_start != values.len() - v_start {
            return Err(CodecError::BadValue {
                what: "chunk columns hold different point counts",
            });
        }
        Ok(used_ts + used_v)
    })();
    if res.is_err() {
        ts.truncate(ts_start);
        values.truncate(v_start);
    }
    res
}

/// Decodes a whole chunk like [`decode_chunk`], appending `(ts + base, value)` pairs to
/// `out` (timestamps add `base` wrapping): the decoders store straight into the pairs. Fails
/// where [`decode_chunk`] fails (a chunk whose columns hold different counts fails before
/// its value codes are read); on error `out` is restored to its length before the call.
pub fn decode_chunk_pairs(
    input: &[u8],
    base: i64,
    out: &mut Vec<(i64, f64)>,
) -> Result<(), CodecError> {
    let at = out.len();
    let used = decode_chunk_pairs_prefix(input, base, out)?;
    let extra = input.len() - used;
    if extra != 0 {
        out.truncate(at);
        return Err(CodecError::TrailingBytes { extra });
    }
    Ok(())
}

/// Decodes the two columns at the start of `input` like [`decode_chunk_pairs`], and returns
/// the bytes they take.
pub fn decode_chunk_pairs_prefix(
    input: &[u8],
    base: i64,
    out: &mut Vec<(i64, f64)>,
) -> Result<usize, CodecError> {
    let at = out.len();
    let res = (|| {
        let used_ts = timestamps::decode_into(input, base, out)?;
        let dst = &mut out[at..];
        let n = dst.len();
        let column = &input[used_ts..];
        let (id, n_values, mut r) = values::header(column)?;
        if n_values != n {
            return Err(CodecError::BadValue {
                what: "chunk columns hold different point counts",
            });
        }
        let used_v = values::decode_body(id, column, &mut r, dst)?;
        Ok(used_ts + used_v)
    })();
    if res.is_err() {
        out.truncate(at);
    }
    res
}

/// Name of the value codec a column uses (its first byte), for dump tools:
/// "raw", "xor", "decimal-delta" or "decimal-delta2".
pub fn value_codec_name(input: &[u8]) -> Option<&'static str> {
    values::name(*input.first()?)
}

/// Name of the timestamp codec a column uses (its first byte): "delta-runs".
pub fn timestamp_codec_name(input: &[u8]) -> Option<&'static str> {
    timestamps::name(*input.first()?)
}
