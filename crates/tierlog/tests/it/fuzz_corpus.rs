//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/*`) through the same
//! `tierlog_testkit::fuzzing` entry points the fuzz targets call, so every input the fuzzer kept
//! (seeds, coverage finds, past crashes) is checked by an ordinary `cargo test`.

use std::fs;
use std::panic::{self, AssertUnwindSafe};

use tierlog_testkit::fuzzing::{self, corpus_root, replay_corpus};

type Target = fn(&[u8]);

const TARGETS: &[(&str, Target)] = &[
    ("header", fuzzing::header),
    ("log_frames", fuzzing::log_frames),
    ("segment", fuzzing::segment),
    ("state", fuzzing::state),
    ("forward_checkpoint", fuzzing::forward_checkpoint),
    ("codec_decode", fuzzing::codec_decode),
    ("codec_roundtrip", fuzzing::codec_roundtrip),
    ("prom_parse", fuzzing::prom_parse),
    ("selector", fuzzing::selector),
    ("store_ops", fuzzing::store_ops),
    ("rollup_chunk", fuzzing::rollup_chunk),
    ("openmetrics_parse", fuzzing::openmetrics_parse),
    ("influx_parse", fuzzing::influx_parse),
    ("csv_parse", fuzzing::csv_parse),
    ("promql_eval", fuzzing::promql_eval),
];

/// Targets whose corpora `tierlog-server`'s `fuzz_corpus` test replays (their entry points
/// need the testkit's `server` feature, which the engine's tests do not build).
const REPLAYED_BY_THE_SERVER: &[&str] = &[
    "remote_write_decode",
    "prom_import_decode",
    "influx_write_decode",
    "remote_read_decode",
];

#[test]
fn every_corpus_dir_has_a_target() {
    let mut dirs: Vec<String> = fs::read_dir(corpus_root())
        .expect("fuzz/corpus")
        .map(|e| e.expect("directory entry"))
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    let mut known: Vec<String> = TARGETS
        .iter()
        .map(|(n, _)| n.to_string())
        .chain(REPLAYED_BY_THE_SERVER.iter().map(|n| n.to_string()))
        .collect();
    known.sort();
    assert_eq!(dirs, known, "fuzz/corpus dirs vs. replayed targets");
}

/// The segment corpus must keep rollup segments (header tier 1) among its seeds, a valid one
/// and a damaged one, so the replay covers `read_rollup_chunk` behind the shared container.
#[test]
fn segment_corpus_holds_valid_and_damaged_rollup_segments() {
    use tierlog::format::header::{FileKind, Header};
    use tierlog::segment::format::{self as segment, ROLLUP_TIER};
    let (mut valid, mut damaged) = (0, 0);
    for e in fs::read_dir(corpus_root().join("segment")).expect("segment corpus") {
        let data = fs::read(e.expect("directory entry").path()).expect("read");
        let Ok(h) = Header::decode(&data, FileKind::Segment) else {
            continue;
        };
        if h.tier != ROLLUP_TIER {
            continue;
        }
        let ok = segment::decode_footer(&data, &h).is_ok_and(|f| {
            !f.entries.is_empty()
                && f.entries
                    .iter()
                    .all(|e| segment::read_rollup_chunk(&data, e, &mut Vec::new()).is_ok())
        });
        if ok { valid += 1 } else { damaged += 1 }
    }
    assert!(
        valid >= 1 && damaged >= 1,
        "{valid} valid, {damaged} damaged rollup segments"
    );
}

#[test]
fn header() {
    replay_corpus("header", fuzzing::header);
}

#[test]
fn log_frames() {
    replay_corpus("log_frames", fuzzing::log_frames);
}

#[test]
fn segment() {
    replay_corpus("segment", fuzzing::segment);
}

#[test]
fn state() {
    replay_corpus("state", fuzzing::state);
}

#[test]
fn forward_checkpoint() {
    replay_corpus("forward_checkpoint", fuzzing::forward_checkpoint);
}

#[test]
fn codec_decode() {
    replay_corpus("codec_decode", fuzzing::codec_decode);
}

#[test]
fn codec_roundtrip() {
    replay_corpus("codec_roundtrip", fuzzing::codec_roundtrip);
}

#[test]
fn prom_parse() {
    replay_corpus("prom_parse", fuzzing::prom_parse);
}

#[test]
fn selector() {
    replay_corpus("selector", fuzzing::selector);
}

#[test]
fn store_ops() {
    replay_corpus("store_ops", fuzzing::store_ops);
}

/// The `store_ops` program below with power lost before each of its I/O operations (it makes
/// about 190; 200 tried), with and without torn writes: writes into three windows, sealing,
/// rollups, a close and reopen, a query.
#[test]
fn store_ops_power_loss_at_every_operation() {
    let w = |series: u8, offset: i16, value: u8| {
        let o = offset.to_le_bytes();
        vec![0, series, o[0], o[1], 2, value]
    };
    let mut program = Vec::new();
    program.extend(w(0, 0, 1));
    program.extend(w(1, -4, 2));
    program.extend([4, 0xbc, 0x02]); // advance 70 s
    program.extend(w(2, 0, 3));
    program.push(5); // maintain
    program.extend(w(0, -8, 4));
    program.push(6); // close, reopen
    program.extend([4, 0xe8, 0x03]); // advance 100 s
    program.push(5);
    program.extend(w(3, 0, 5));
    program.extend(w(3, 0, 6)); // same second: a mean
    program.extend([7, 0x00, 0xfc, 0xff, 0xff]); // query
    for crash_at in 1..=200u16 {
        for torn in [0u8, 1] {
            let c = crash_at.to_le_bytes();
            let mut input = vec![torn, c[0], c[1]];
            input.extend(&program);
            if panic::catch_unwind(AssertUnwindSafe(|| fuzzing::store_ops(&input))).is_err() {
                panic!(
                    "store_ops failed with power lost before operation {crash_at} (torn {torn}): {input:?}"
                );
            }
        }
    }
}

#[test]
fn rollup_chunk() {
    replay_corpus("rollup_chunk", fuzzing::rollup_chunk);
}

#[test]
fn openmetrics_parse() {
    replay_corpus("openmetrics_parse", fuzzing::openmetrics_parse);
}

#[test]
fn influx_parse() {
    replay_corpus("influx_parse", fuzzing::influx_parse);
}

#[test]
fn csv_parse() {
    replay_corpus("csv_parse", fuzzing::csv_parse);
}

#[test]
fn promql_eval() {
    replay_corpus("promql_eval", fuzzing::promql_eval);
}
