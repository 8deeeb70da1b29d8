//! Where the column decoders put what they decode: plain columns (`i64` timestamps, `f64`
//! values), or the two halves of `(ts, value)` pairs, so that a reader wanting pairs gets
//! them from the decoders' own stores instead of a second pass that zips two columns.

/// A slot the timestamp decoder appends: the timestamp, or a pair holding it and 0.0 (which
/// the value decoders then fill).
pub trait TsSlot: Copy {
    fn from_ts(t: i64) -> Self;
}

/// A slot the value decoders fill.
pub trait ValueSlot: Copy {
    fn set_value(&mut self, v: f64);
    fn value(&self) -> f64;
    /// Stores the integer `n` of a decimal column before its division (`n as f64`): a slot
    /// that keeps small integers (rollup codes) takes it without the round trip through
    /// `f64`.
    #[inline(always)]
    fn set_int(&mut self, n: i64) {
        self.set_value(n as f64);
    }
}

impl TsSlot for i64 {
    #[inline(always)]
    fn from_ts(t: i64) -> Self {
        t
    }
}

impl ValueSlot for f64 {
    #[inline(always)]
    fn set_value(&mut self, v: f64) {
        *self = v;
    }
    #[inline(always)]
    fn value(&self) -> f64 {
        *self
    }
}

impl TsSlot for (i64, f64) {
    #[inline(always)]
    fn from_ts(t: i64) -> Self {
        (t, 0.0)
    }
}

impl ValueSlot for (i64, f64) {
    #[inline(always)]
    fn set_value(&mut self, v: f64) {
        self.1 = v;
    }
    #[inline(always)]
    fn value(&self) -> f64 {
        self.1
    }
}

/// Divides every value by `scale`. The decimal decoders store `n as f64` while they
/// integrate and divide afterwards in this separate pass: the result is bit-identical to
/// dividing each value as it is made, but here the divisions are independent of each other,
/// two at a time (one packed division where the target has one), instead of one after
/// another inside the integrating loop.
#[inline(never)]
pub fn divide_all<S: ValueSlot>(slots: &mut [S], scale: f64) {
    let mut pairs = slots.chunks_exact_mut(2);
    for p in &mut pairs {
        let (a, b) = (p[0].value() / scale, p[1].value() / scale);
        p[0].set_value(a);
        p[1].set_value(b);
    }
    for s in pairs.into_remainder() {
        s.set_value(s.value() / scale);
    }
}
