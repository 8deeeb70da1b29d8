//! Tests for the codec module: golden bytes (which also document the format),
//! round-trip and hostile-input property tests, truncation, codec choice and
//! size figures.

use super::*;
use proptest::prelude::*;
use std::collections::BTreeSet;

use crate::rng::SplitMix64 as Rng;

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z in ms

fn regular_ts(n: usize, step: i64) -> Vec<i64> {
    (0..n as i64).map(|i| T0 + i * step).collect()
}

/// The typical series of a metrics store, as `(name, values)`.
fn series(n: usize) -> Vec<(&'static str, Vec<f64>)> {
    let mut rng = Rng::new(12345);
    let mut walk = |start: i64, lo: i64, hi: i64, scale: f64| {
        let mut x = start;
        (0..n)
            .map(|_| {
                let v = x as f64 / scale;
                x = (x + rng.range(lo, hi)).max(0);
                v
            })
            .collect::<Vec<f64>>()
    };
    let counter = walk(1_000_000, 0, 20, 1.0);
    let gauge2 = walk(5_000, -50, 50, 100.0);
    let load = walk(150, -5, 5, 100.0);
    let temp = walk(450, -1, 1, 10.0);
    let pages = walk(2_000_000, -8, 8, 1.0);
    let bytes = pages.iter().map(|p| p * 4096.0).collect();
    vec![
        ("constant", vec![42.0; n]),
        ("counter +0..20", counter),
        ("gauge 2dp +-0.50", gauge2),
        ("bytes 4KiB steps", bytes),
        ("loadavg 2dp", load),
        ("temperature 1dp", temp),
    ]
}

fn enc_ts(ts: &[i64]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_timestamps(ts, &mut out);
    out
}

fn enc_values(v: &[f64]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_values(v, &mut out);
    out
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn roundtrip_values(v: &[f64]) -> Vec<u8> {
    let enc = enc_values(v);
    let mut out = vec![7.0]; // pre-existing content must be kept
    let used = decode_values(&enc, &mut out).expect("decode");
    assert_eq!(used, enc.len());
    assert_eq!(bits(&out[1..]), bits(v));
    enc
}

fn roundtrip_ts(ts: &[i64]) -> Vec<u8> {
    let mut enc = Vec::new();
    timestamps::encode(ts, &mut enc); // no sortedness debug_assert
    let mut out = vec![7];
    let used = decode_timestamps(&enc, &mut out).expect("decode");
    assert_eq!(used, enc.len());
    assert_eq!(&out[1..], ts);
    enc
}

// ------------------------------------------------------------ golden bytes

#[test]
fn golden_timestamps() {
    // id 1, count 4, first zz(1000)=2000, unit 1000, (q 1 x2), (q 2 x1)
    assert_eq!(
        enc_ts(&[1000, 2000, 3000, 5000]),
        [0x01, 0x04, 0xD0, 0x0F, 0xE8, 0x07, 0x02, 0x02, 0x04, 0x01]
    );
    assert_eq!(enc_ts(&[]), [0x01, 0x00]);
    assert_eq!(enc_ts(&[-1]), [0x01, 0x01, 0x01]);
    // deltas 7 and 3 ms: unit gcd(1000,7,3)=1
    assert_eq!(
        enc_ts(&[0, 7, 10]),
        [0x01, 0x03, 0x00, 0x01, 0x0E, 0x01, 0x06, 0x01]
    );
}

#[test]
fn golden_decimal_delta() {
    // d=1 -> ints 10 25 25 40, deltas 15 0 15: one block width 1, min 0,
    // mult 15, q = 1 0 1 packed LSB-first = 0b101.
    let enc = roundtrip_values(&[1.0, 2.5, 2.5, 4.0]);
    assert_eq!(enc, [0x02, 0x04, 0x01, 0x14, 0x01, 0x00, 0x0F, 0x05]);
    assert_eq!(value_codec_name(&enc), Some("decimal-delta"));
}

#[test]
fn golden_decimal_delta2() {
    // squares: d=0, n0 0, first delta 1 (zz 2), dods 2 2 2 2 -> one block
    // of width 0, min zz(2)=4, mult 1, no packed bytes.
    let enc = roundtrip_values(&[0.0, 1.0, 4.0, 9.0, 16.0, 25.0]);
    assert_eq!(enc, [0x03, 0x06, 0x00, 0x00, 0x02, 0x00, 0x04, 0x01]);
    assert_eq!(value_codec_name(&enc), Some("decimal-delta2"));
}

#[test]
fn golden_xor() {
    // 1.5 raw; then '0'; new window (lead 0, len 1) sig 1; new window
    // (lead 0, len 2) sig 0b11; reuse window sig 0b01. 34 bits -> 5 bytes.
    let enc = roundtrip_values(&[1.5, 1.5, -1.5, f64::NAN, 1.5]);
    assert_eq!(
        enc,
        [
            0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF8, 0x3F, 0x06, 0xC0, 0x41, 0x70,
            0x01
        ]
    );
    assert_eq!(value_codec_name(&enc), Some("xor"));
}

#[test]
fn golden_raw() {
    // Not decimal, and xor would take 19 bytes (2 + 8 + 66 bits) vs 18.
    let enc = roundtrip_values(&[0.1 + 0.2, f64::NAN]);
    assert_eq!(
        enc,
        [
            0x00, 0x02, 0x34, 0x33, 0x33, 0x33, 0x33, 0x33, 0xD3, 0x3F, 0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0xF8, 0x7F
        ]
    );
    assert_eq!(value_codec_name(&enc), Some("raw"));
    assert_eq!(enc_values(&[]), [0x00, 0x00]);
}

#[test]
fn golden_chunk() {
    let mut out = Vec::new();
    encode_chunk(&[1000, 2000, 3000, 5000], &[1.0, 2.5, 2.5, 4.0], &mut out);
    let expect = [
        0x01, 0x04, 0xD0, 0x0F, 0xE8, 0x07, 0x02, 0x02, 0x04, 0x01, // timestamps
        0x02, 0x04, 0x01, 0x14, 0x01, 0x00, 0x0F, 0x05, // values
    ];
    assert_eq!(out, expect);
    assert_eq!(timestamp_codec_name(&out), Some("delta-runs"));
    let (mut ts, mut vs) = (Vec::new(), Vec::new());
    decode_chunk(&out, &mut ts, &mut vs).unwrap();
    assert_eq!(ts, [1000, 2000, 3000, 5000]);
    assert_eq!(vs, [1.0, 2.5, 2.5, 4.0]);
    let mut pairs = vec![(0, 0.0)];
    decode_chunk_pairs(&out, 10, &mut pairs).unwrap();
    assert_eq!(
        pairs,
        [(0, 0.0), (1010, 1.0), (2010, 2.5), (3010, 2.5), (5010, 4.0)]
    );
}

// ------------------------------------------------------------ behaviour

#[test]
fn codec_choice() {
    for (name, v) in series(600) {
        let enc = roundtrip_values(&v);
        let codec = value_codec_name(&enc).unwrap();
        assert!(codec.starts_with("decimal-delta"), "{name} chose {codec}");
    }
    let mut rng = Rng::new(1);
    let random: Vec<f64> = (0..600).map(|_| f64::from_bits(rng.next_u64())).collect();
    let codec = value_codec_name(&roundtrip_values(&random)).unwrap();
    assert!(
        codec == "xor" || codec == "raw",
        "random bits chose {codec}"
    );
    // A decimal gauge poisoned by one -0.0 can no longer be decimal.
    let mut g = series(600).swap_remove(2).1;
    g[17] = -0.0;
    assert_eq!(value_codec_name(&roundtrip_values(&g)), Some("xor"));
}

#[test]
fn sizes_report() {
    println!("bytes/point (values column / timestamps 1 s / whole chunk):");
    for n in [600usize, 7200] {
        let ts = regular_ts(n, 1000);
        let ts_len = enc_ts(&ts).len();
        for (name, v) in series(n) {
            let enc = roundtrip_values(&v);
            let mut chunk = Vec::new();
            encode_chunk(&ts, &v, &mut chunk);
            let per = |b: usize| b as f64 / n as f64;
            println!(
                "  n={n:5} {name:18} {:>14} {:7.4} / {:6.4} / {:7.4}",
                value_codec_name(&enc).unwrap(),
                per(enc.len()),
                per(ts_len),
                per(chunk.len())
            );
            let limit = match name {
                "constant" => 0.04,
                "counter +0..20" => 0.7,
                "gauge 2dp +-0.50" => 0.95,
                _ => 0.7,
            };
            assert!(per(enc.len()) <= limit, "{name} n={n}: {}", per(enc.len()));
        }
    }
}

#[test]
fn max_points() {
    let v = vec![1.25; MAX_COLUMN_POINTS];
    roundtrip_values(&v);
    let ts: Vec<i64> = (0..MAX_COLUMN_POINTS as i64).map(|i| i * 1000).collect();
    roundtrip_ts(&ts);
    // One more is refused before any allocation.
    let mut big = vec![0x01];
    varint::put_uvarint(&mut big, MAX_COLUMN_POINTS as u64 + 1);
    let err = decode_timestamps(&big, &mut Vec::new()).unwrap_err();
    assert_eq!(
        err,
        CodecError::TooManyPoints {
            count: MAX_COLUMN_POINTS as u64 + 1
        }
    );
    big[0] = 0x02;
    assert!(matches!(
        decode_values(&big, &mut Vec::new()),
        Err(CodecError::TooManyPoints { .. })
    ));
}

#[test]
fn typed_errors() {
    let (mut ts, mut vs) = (vec![1i64], vec![1.0f64]);
    assert_eq!(
        decode_timestamps(&[0x00, 0x00], &mut ts),
        Err(CodecError::UnknownCodec {
            column: "timestamps",
            id: 0
        })
    );
    assert_eq!(
        decode_values(&[0x05, 0x00], &mut vs),
        Err(CodecError::UnknownCodec {
            column: "values",
            id: 5
        })
    );
    assert_eq!(value_codec_name(&[0x05]), None);
    assert_eq!(value_codec_name(&[]), None);
    assert_eq!(timestamp_codec_name(&[0x02]), None);
    // Decimal exponent 10, bit width 65, zero multiplier, zero unit, bad run.
    let bad: [(&[u8], &str); 3] = [
        (&[0x02, 0x02, 0x0A, 0x00], "exponent"),
        (&[0x02, 0x02, 0x00, 0x00, 0x41, 0x00, 0x01], "width"),
        (&[0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00], "multiplier"),
    ];
    for (input, what) in bad {
        assert!(
            matches!(
                decode_values(input, &mut vs),
                Err(CodecError::BadValue { .. })
            ),
            "{what}"
        );
    }
    assert!(matches!(
        decode_timestamps(&[0x01, 0x02, 0x00, 0x00], &mut ts),
        Err(CodecError::BadValue { .. })
    ));
    assert!(matches!(
        decode_timestamps(&[0x01, 0x03, 0x00, 0x01, 0x02, 0x03], &mut ts),
        Err(CodecError::BadValue { .. })
    ));
    // xor window lead 31 + len 64 > 64: bits 1,1, 11111, 111111
    assert!(matches!(
        decode_values(&[0x01, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0x1F], &mut vs),
        Err(CodecError::BadValue { .. })
    ));
    assert_eq!(
        (ts.as_slice(), vs.as_slice()),
        (&[1i64][..], &[1.0f64][..]),
        "outputs restored"
    );

    let mut chunk = Vec::new();
    encode_chunk(&[1, 2], &[1.0, 2.0], &mut chunk);
    chunk.push(0);
    assert_eq!(
        decode_chunk(&chunk, &mut ts, &mut vs),
        Err(CodecError::TrailingBytes { extra: 1 })
    );
    let mut uneven = enc_ts(&[1, 2]);
    uneven.extend(enc_values(&[1.0]));
    assert!(matches!(
        decode_chunk(&uneven, &mut ts, &mut vs),
        Err(CodecError::BadValue { .. })
    ));
    let mut pairs = vec![(1, 1.0)];
    assert!(matches!(
        decode_chunk_pairs(&uneven, 0, &mut pairs),
        Err(CodecError::BadValue { .. })
    ));
    assert_eq!(
        decode_chunk_pairs(&chunk, 0, &mut pairs),
        Err(CodecError::TrailingBytes { extra: 1 })
    );
    assert_eq!(pairs, [(1, 1.0)], "pairs restored");
    assert_eq!((ts.len(), vs.len()), (1, 1), "chunk outputs restored");
    assert!(
        CodecError::TrailingBytes { extra: 1 }
            .to_string()
            .contains("trailing")
    );
}

/// Every strict prefix must fail with `Truncated` (never a shorter success).
fn assert_prefixes_truncated(enc: &[u8], is_ts: bool) {
    for cut in 0..enc.len() {
        let p = &enc[..cut];
        let (mut ts, mut vs) = (Vec::new(), Vec::new());
        let res = match is_ts {
            true => decode_timestamps(p, &mut ts).map(drop),
            false => decode_values(p, &mut vs).map(drop),
        };
        assert!(
            matches!(res, Err(CodecError::Truncated { .. })),
            "cut {cut}/{}: {res:?}",
            enc.len()
        );
    }
}

#[test]
fn truncation_of_every_codec() {
    assert_prefixes_truncated(&enc_ts(&[1000, 2000, 3000, 5000]), true);
    assert_prefixes_truncated(&enc_ts(&regular_ts(700, 15000)), true);
    for (_, v) in series(300) {
        assert_prefixes_truncated(&enc_values(&v), false);
    }
    assert_prefixes_truncated(&enc_values(&[1.5, 1.5, -1.5, f64::NAN, 1.5]), false);
    assert_prefixes_truncated(&enc_values(&[0.1 + 0.2, f64::NAN]), false);
    assert_prefixes_truncated(&enc_values(&[0.0, 1.0, 4.0, 9.0, 16.0, 25.0]), false);
    let mut chunk = Vec::new();
    encode_chunk(&regular_ts(200, 1000), &series(200)[2].1, &mut chunk);
    for cut in 0..chunk.len() {
        let res = decode_chunk(&chunk[..cut], &mut Vec::new(), &mut Vec::new());
        assert!(
            matches!(res, Err(CodecError::Truncated { .. })),
            "chunk cut {cut}"
        );
    }
}

// ------------------------------------------------------------ properties

fn sorted_ts() -> impl Strategy<Value = Vec<i64>> {
    let t = prop_oneof![
        any::<i64>(),
        i64::MIN..i64::MIN + 100_000,
        i64::MAX - 100_000..=i64::MAX,
        (0i64..2_000_000).prop_map(|s| T0 + s * 1000),
        (0i64..20_000).prop_map(|s| T0 + s * 15_000),
    ];
    proptest::collection::vec(t, 0..300)
        .prop_map(|v| v.into_iter().collect::<BTreeSet<_>>().into_iter().collect())
}

fn decimalish() -> impl Strategy<Value = Vec<f64>> {
    (
        0usize..=9,
        proptest::collection::vec(-1_000i64..=1_000, 0..400),
        -1_000_000_000_000i64..1_000_000_000_000,
    )
        .prop_map(|(k, steps, start)| {
            let mut n = start;
            steps
                .into_iter()
                .map(|s| {
                    n += s;
                    n as f64 / values::POW10[k]
                })
                .collect()
        })
}

proptest! {
    #[test]
    fn prop_values_any_bits(raw in proptest::collection::vec(any::<u64>(), 0..400)) {
        let v: Vec<f64> = raw.into_iter().map(f64::from_bits).collect();
        roundtrip_values(&v);
    }

    #[test]
    fn prop_values_decimalish(v in decimalish()) {
        let enc = roundtrip_values(&v);
        prop_assert!(v.len() < 2 || enc[0] >= 2, "decimal column chose {:?}", value_codec_name(&enc));
    }

    #[test]
    fn prop_values_mixed(mut v in decimalish(), specials in proptest::collection::vec((any::<prop::sample::Index>(), any::<u64>()), 0..5)) {
        let pool = [f64::NAN, -0.0, f64::INFINITY, f64::NEG_INFINITY, f64::MIN_POSITIVE, f64::MAX];
        for (i, b) in specials {
            if !v.is_empty() {
                let at = i.index(v.len());
                v[at] = if b % 7 == 6 { f64::from_bits(b) } else { pool[(b % 6) as usize] };
            }
        }
        roundtrip_values(&v);
    }

    #[test]
    fn prop_timestamps_sorted(ts in sorted_ts()) {
        roundtrip_ts(&ts);
        let mut out = Vec::new();
        encode_timestamps(&ts, &mut out); // public path, with debug_asserts
        let vals: Vec<f64> = ts.iter().map(|&t| t as f64).collect();
        let mut chunk = Vec::new();
        encode_chunk(&ts, &vals, &mut chunk);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        decode_chunk(&chunk, &mut a, &mut b).unwrap();
        prop_assert_eq!(a, ts);
        prop_assert_eq!(bits(&b), bits(&vals));
    }

    #[test]
    fn prop_timestamps_unsorted(ts in proptest::collection::vec(any::<i64>(), 0..300)) {
        roundtrip_ts(&ts);
    }

    #[test]
    fn prop_prefixes_truncated(v in decimalish(), raw in proptest::collection::vec(any::<u64>(), 0..40)) {
        assert_prefixes_truncated(&enc_values(&v), false);
        let x: Vec<f64> = raw.into_iter().map(f64::from_bits).collect();
        let mut xor = Vec::new();
        values::encode_xor(&x, &mut xor);
        assert_prefixes_truncated(&xor, false);
    }

    #[test]
    fn prop_arbitrary_bytes(mut input in proptest::collection::vec(any::<u8>(), 0..300), id in 0u8..=3) {
        for round in 0..2 {
            if round == 1 && !input.is_empty() {
                input[0] = id; // steer into each value codec
            }
            let mut ts = vec![5i64];
            if let Ok(n) = decode_timestamps(&input, &mut ts) { prop_assert!(n <= input.len()); }
            else { prop_assert_eq!(&ts, &[5]); }
            let mut vs = vec![5.0f64];
            if let Ok(n) = decode_values(&input, &mut vs) { prop_assert!(n <= input.len()); }
            else { prop_assert_eq!(vs.len(), 1); }
            let _ = decode_chunk(&input, &mut ts, &mut vs);
            assert_pairs_agree(&input);
        }
    }

    #[test]
    fn prop_mutated_encodings(v in decimalish(), flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        let mut chunk = Vec::new();
        let ts: Vec<i64> = (0..v.len() as i64).map(|i| T0 + i * 1000).collect();
        encode_chunk(&ts, &v, &mut chunk);
        for (i, b) in flips {
            let at = i.index(chunk.len());
            chunk[at] ^= b;
        }
        let _ = decode_chunk(&chunk, &mut Vec::new(), &mut Vec::new());
        assert_pairs_agree(&chunk);
    }
}

/// `decode_chunk_pairs` agrees with `decode_chunk` on `chunk`: the same points (timestamps
/// plus the base) when it decodes, an error (and the output as it was) when it does not.
fn assert_pairs_agree(chunk: &[u8]) {
    let base = 0x0123_4567_89AB_CDEF;
    let (mut ts, mut vs) = (Vec::new(), Vec::new());
    let columns = decode_chunk(chunk, &mut ts, &mut vs);
    let mut pairs = vec![(5, 5.0)];
    let res = decode_chunk_pairs(chunk, base, &mut pairs);
    assert_eq!(res.is_ok(), columns.is_ok(), "{res:?} / {columns:?}");
    if res.is_err() {
        assert_eq!(pairs, [(5, 5.0)], "output restored");
        return;
    }
    let want: Vec<(i64, u64)> = ts
        .iter()
        .map(|t| t.wrapping_add(base))
        .zip(bits(&vs))
        .collect();
    let got: Vec<(i64, u64)> = pairs[1..].iter().map(|p| (p.0, p.1.to_bits())).collect();
    assert_eq!(got, want);
}

// ------------------------------------------------------------ adversarial values

/// Values that trip codecs up: NaN payloads (quiet, signalling, sign set), signed zeros and
/// infinities, subnormals, the extremes of the exponent, integers around and beyond 2^53,
/// and values that print as short decimals without being them.
fn adversarial() -> Vec<f64> {
    let mut v: Vec<f64> = [
        0x7ff8_0000_0000_0000u64, // quiet NaN
        0x7ff8_dead_beef_0001,    // quiet NaN, payload
        0x7ff0_0000_0000_0001,    // signalling NaN, smallest payload
        0x7ff4_0000_0000_0000,    // signalling NaN
        0xfff8_0000_0000_0000,    // quiet NaN, sign set
        0xfff0_0000_0000_0001,    // signalling NaN, sign set
        0xffff_ffff_ffff_ffff,    // every bit set
        0x7fff_ffff_ffff_ffff,
        0x0000_0000_0000_0001, // smallest subnormal
        0x000f_ffff_ffff_ffff, // largest subnormal
        0x8000_0000_0000_0001, // negative subnormal
        0x800f_ffff_ffff_ffff,
        0x8000_0000_0000_0000, // -0.0
    ]
    .into_iter()
    .map(f64::from_bits)
    .collect();
    v.extend([
        0.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        -f64::MIN_POSITIVE,
        f64::EPSILON,
        9_007_199_254_740_992.0,  // 2^53
        9_007_199_254_740_991.0,  // 2^53 - 1, the largest decimal-codec integer
        -9_007_199_254_740_991.0, // its negation
        -9_007_199_254_740_992.0,
        9.007199254740993e15, // 2^53 + 1 is not representable: this is 2^53 or 2^53 + 2
        1_152_921_504_606_846_976.0, // 2^60
        u64::MAX as f64,
        i64::MIN as f64,
        i64::MAX as f64,
        0.1 + 0.2,
        0.3,
        1e-9,
        1.5e-9,
        123_456_789.123_456_79,
        1e300,
        -1e-300,
        1.0,
    ]);
    v
}

/// Every value codec forced on `v` (those that apply), plus the encoder's own choice: each
/// must give the bits back. Returns the ids of the codecs tried.
fn roundtrip_every_codec(v: &[f64]) -> BTreeSet<u8> {
    let mut tried = BTreeSet::new();
    let ts = regular_ts(v.len(), 1000);
    let mut check = |enc: &[u8]| {
        let mut out = vec![7.0];
        let used = decode_values(enc, &mut out).expect("decode");
        assert_eq!(used, enc.len());
        assert_eq!(
            bits(&out[1..]),
            bits(v),
            "codec {:?}",
            value_codec_name(enc)
        );
        // The same column in a chunk, decoded into pairs.
        let mut chunk = enc_ts(&ts);
        chunk.extend_from_slice(enc);
        let mut pairs = vec![(1, 7.0)];
        decode_chunk_pairs(&chunk, -T0, &mut pairs).expect("decode pairs");
        let want: Vec<(i64, u64)> = ts.iter().map(|t| t - T0).zip(bits(v)).collect();
        let got: Vec<(i64, u64)> = pairs[1..].iter().map(|p| (p.0, p.1.to_bits())).collect();
        assert_eq!(got, want, "pairs, codec {:?}", value_codec_name(enc));
        assert_pairs_agree(&chunk);
        tried.insert(enc[0]);
    };
    check(&enc_values(v));
    let mut enc = Vec::new();
    values::encode_raw(v, &mut enc);
    check(&enc);
    enc.clear();
    values::encode_xor(v, &mut enc);
    check(&enc);
    if let Some((d, ints)) = values::decimal_ints(v) {
        for delta2 in [false, true] {
            enc.clear();
            assert!(values::encode_decimal(
                delta2,
                d,
                &ints,
                &mut enc,
                usize::MAX
            ));
            check(&enc);
        }
        for order in [1, 2] {
            enc.clear();
            assert!(varbits::encode(d, order, &ints, &mut enc, usize::MAX));
            check(&enc);
        }
    }
    tried
}

#[test]
fn adversarial_values_round_trip_bit_exact_in_every_codec() {
    let adv = adversarial();
    // Each value alone, next to a decimal, and repeated (runs in xor and varbits).
    for &x in &adv {
        roundtrip_every_codec(&[x]);
        roundtrip_every_codec(&[1.5, x, 1.5]);
        roundtrip_every_codec(&[x; 70]);
    }
    // All of them in one column, in order, reversed and interleaved with a decimal walk.
    roundtrip_every_codec(&adv);
    let rev: Vec<f64> = adv.iter().rev().copied().collect();
    roundtrip_every_codec(&rev);
    let mixed: Vec<f64> = adv
        .iter()
        .enumerate()
        .flat_map(|(i, &x)| [i as f64 / 100.0, x, x])
        .collect();
    roundtrip_every_codec(&mixed);
    // Decimal columns at the edges the decimal codecs accept: |n| < 2^53 at every exponent,
    // full-range jumps (escape codes of 64 bits in varbits, 64-bit widths in blocks).
    let big = 9_007_199_254_740_991i64;
    let mut tried = BTreeSet::new();
    for d in [0usize, 3, 9] {
        let ints = [big, -big, 0, big, big - 1, -big, 1, -1, big];
        let col: Vec<f64> = ints.iter().map(|&n| n as f64 / values::POW10[d]).collect();
        let got = values::decimal_ints(&col).expect("decimal");
        assert_eq!(got.1.len(), col.len());
        tried.extend(roundtrip_every_codec(&col));
    }
    assert_eq!(
        tried,
        BTreeSet::from([0, 1, 2, 3, 4]),
        "every codec exercised"
    );
    // And whole chunks: adversarial values with timestamps at the ends of i64.
    let ts: Vec<i64> = (0..adv.len() as i64)
        .map(|i| {
            if i % 2 == 0 {
                i64::MIN + i
            } else {
                i64::MAX - (adv.len() as i64 - i)
            }
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut chunk = Vec::new();
    encode_chunk(&ts, &adv, &mut chunk);
    let (mut t, mut v) = (Vec::new(), Vec::new());
    decode_chunk(&chunk, &mut t, &mut v).unwrap();
    assert_eq!(t, ts);
    assert_eq!(bits(&v), bits(&adv));
}

/// A value from anywhere: random bits, an adversarial constant, or a short decimal.
fn any_value() -> impl Strategy<Value = f64> {
    let adv = adversarial();
    prop_oneof![
        any::<u64>().prop_map(f64::from_bits),
        prop::sample::select(adv),
        (-100_000i64..100_000, 0usize..=9).prop_map(|(n, d)| n as f64 / values::POW10[d]),
    ]
}

proptest! {
    #[test]
    fn prop_any_column_round_trips_in_every_codec(v in proptest::collection::vec(any_value(), 0..300)) {
        roundtrip_every_codec(&v);
    }

    #[test]
    fn prop_runs_of_adversarial_values_round_trip(
        runs in proptest::collection::vec((any_value(), 1usize..90), 0..8),
    ) {
        let v: Vec<f64> = runs.iter().flat_map(|&(x, n)| std::iter::repeat_n(x, n)).collect();
        roundtrip_every_codec(&v);
    }

    #[test]
    fn prop_decimal_columns_round_trip_in_every_codec(v in decimalish(), d in 0usize..=9, big in any::<bool>()) {
        // Scaled integers spread over the whole accepted range when `big`.
        let v: Vec<f64> = if big {
            v.iter().enumerate().map(|(i, x)| {
                let n = (x.to_bits() as i64 % 9_007_199_254_740_991).wrapping_mul(if i % 2 == 0 { 1 } else { -1 });
                n as f64 / values::POW10[d]
            }).collect()
        } else { v };
        roundtrip_every_codec(&v);
    }
}
