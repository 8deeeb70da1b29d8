#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tierlog_testkit::fuzzing::remote_read_decode(data));
