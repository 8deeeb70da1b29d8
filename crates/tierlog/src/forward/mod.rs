//! The store's side of remote-write forwarding: the checkpoint a forwarder keeps under
//! `DIR/forward/` ([`format`](crate::forward::format), `format-spec/forward.md`) and what the writer does with it
//! (holding unsent raw data back from retention, counting late samples).

pub mod format;
pub mod hold;
pub mod late;
