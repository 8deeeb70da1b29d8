//! The code of the `tierlog` crate's examples that its integration tests drive too: the
//! `/proc` parser ([`procfs`], shared by the `agent` and `proc_record` examples), the agent's
//! sampling ([`agent`]) and the reader's query and tables ([`reader`]). The example files hold
//! the programs around them (arguments, loops, signals).

pub mod agent;
pub mod procfs;
pub mod reader;
