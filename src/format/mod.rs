//! Pure encoders and decoders of every on-disk structure: bytes in, bytes out, no file I/O.
//! Each file type has a page in `format-spec/`; golden-bytes tests bind the two.

pub mod codec;
pub mod forward;
pub mod frame;
pub mod header;
pub mod index;
pub mod rollup;
pub mod segment;
pub mod state;
pub mod wal;

pub(crate) mod bytes;

/// CRC-32C (Castagnoli) of `data`: the checksum used by every tierlog file.
pub fn crc(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
}
