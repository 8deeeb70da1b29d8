//! What every file type shares: the common file header ([`header`](crate::format::header)), the CRC-32C used by
//! every checksum, and the little-endian byte helpers. Each artifact's own layout lives beside
//! its reader and writer (`segment::format`, `wal::format`, `rollup::format`, ...); all of
//! them are pure (bytes in, bytes out) and specified in `format-spec/`.

pub mod header;

pub(crate) mod bytes;

/// CRC-32C (Castagnoli) of `data`: the checksum used by every tierlog file.
pub fn crc(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
}
