//! Compares two query answers in the shape of Prometheus' HTTP API (`data` of
//! `/api/v1/query` and `/api/v1/query_range`): series by series, label sets exact,
//! timestamps exact, values within 1e-9 relative + 1e-12 absolute, NaN and ±Inf as such.

use std::collections::BTreeMap;

use serde_json::Value as Json;

/// A label set in a canonical form: `{a="1", b="2"}`, names sorted (`__name__` among them).
pub type Key = String;

/// An answer, normalised.
#[derive(Debug, Clone, PartialEq)]
pub enum Res {
    Scalar(i64, f64),
    Str(i64, String),
    /// Samples in the answer's order.
    Vector(Vec<(Key, i64, f64)>),
    /// Series in the answer's order.
    Matrix(Vec<(Key, Vec<(i64, f64)>)>),
}

/// How two answers relate.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Agree,
    /// Both failed: agreement; the two messages.
    BothErr(String, String),
    /// The first difference found.
    Differ(String),
}

fn key(metric: &Json) -> Result<Key, String> {
    let obj = metric.as_object().ok_or("metric is not an object")?;
    let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(obj.len());
    for (k, v) in obj {
        pairs.push((k, v.as_str().ok_or("label value is not a string")?));
    }
    pairs.sort();
    let inner: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    Ok(format!("{{{}}}", inner.join(", ")))
}

/// `[t_seconds, "value"]` as (ms, value).
fn point(p: &Json) -> Result<(i64, f64), String> {
    let t = p[0]
        .as_f64()
        .ok_or_else(|| format!("bad timestamp in {p}"))?;
    let v = p[1].as_str().ok_or_else(|| format!("bad value in {p}"))?;
    Ok(((t * 1000.0).round() as i64, parse_value(v)?))
}

/// A value as Prometheus prints it (Go's shortest decimal, `NaN`, `+Inf`, `-Inf`).
pub fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => s.parse().map_err(|_| format!("bad value {s:?}")),
    }
}

/// A value as Prometheus prints it.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// Normalises the `data` of an API answer.
pub fn parse(data: &Json) -> Result<Res, String> {
    let result = &data["result"];
    match data["resultType"].as_str() {
        Some("scalar") => {
            let (t, v) = point(result)?;
            Ok(Res::Scalar(t, v))
        }
        Some("string") => {
            let t = result[0].as_f64().ok_or("bad string answer")?;
            let s = result[1].as_str().ok_or("bad string answer")?;
            Ok(Res::Str((t * 1000.0).round() as i64, s.to_owned()))
        }
        Some("vector") => {
            let mut out = Vec::new();
            for s in result.as_array().ok_or("vector result is not an array")? {
                let (t, v) = point(&s["value"])?;
                out.push((key(&s["metric"])?, t, v));
            }
            Ok(Res::Vector(out))
        }
        Some("matrix") => {
            let mut out = Vec::new();
            for s in result.as_array().ok_or("matrix result is not an array")? {
                let mut pts = Vec::new();
                for p in s["values"].as_array().ok_or("values is not an array")? {
                    pts.push(point(p)?);
                }
                out.push((key(&s["metric"])?, pts));
            }
            Ok(Res::Matrix(out))
        }
        other => Err(format!("unknown resultType {other:?}")),
    }
}

/// True when `a` and `b` agree: within 1e-9 relative plus 1e-12 absolute; NaN equals NaN;
/// infinities equal only themselves.
pub fn close(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a.is_infinite() || b.is_infinite() {
        return a == b;
    }
    (a - b).abs() <= 1e-12 + 1e-9 * a.abs().max(b.abs())
}

fn by_key<T: Clone>(items: &[(Key, T)], side: &str) -> Result<BTreeMap<Key, T>, String> {
    let mut m = BTreeMap::new();
    for (k, v) in items {
        if m.insert(k.clone(), v.clone()).is_some() {
            return Err(format!("{side} holds {k} twice"));
        }
    }
    Ok(m)
}

fn diff_sets<T>(a: &BTreeMap<Key, T>, b: &BTreeMap<Key, T>) -> Option<String> {
    if let Some(k) = a.keys().find(|k| !b.contains_key(*k)) {
        return Some(format!(
            "series {k} only in reference ({} vs {} series)",
            a.len(),
            b.len()
        ));
    }
    if let Some(k) = b.keys().find(|k| !a.contains_key(*k)) {
        return Some(format!(
            "series {k} only in target ({} vs {} series)",
            a.len(),
            b.len()
        ));
    }
    None
}

fn show(v: f64) -> String {
    format_value(v)
}

/// Compares two normalised answers; `ordered` makes a vector's order count (by values:
/// Prometheus sorts by value only, so ties may come in any order).
pub fn compare_res(a: &Res, b: &Res, ordered: bool) -> Option<String> {
    match (a, b) {
        (Res::Scalar(ta, va), Res::Scalar(tb, vb)) => {
            if ta != tb {
                Some(format!("scalar time {ta} vs {tb}"))
            } else if !close(*va, *vb) {
                Some(format!("scalar {} vs {}", show(*va), show(*vb)))
            } else {
                None
            }
        }
        (Res::Str(ta, sa), Res::Str(tb, sb)) => {
            (ta != tb || sa != sb).then(|| format!("string {ta} {sa:?} vs {tb} {sb:?}"))
        }
        (Res::Vector(va), Res::Vector(vb)) => {
            let pa: Vec<(Key, (i64, f64))> =
                va.iter().map(|(k, t, v)| (k.clone(), (*t, *v))).collect();
            let pb: Vec<(Key, (i64, f64))> =
                vb.iter().map(|(k, t, v)| (k.clone(), (*t, *v))).collect();
            let ma = match by_key(&pa, "reference") {
                Ok(m) => m,
                Err(e) => return Some(e),
            };
            let mb = match by_key(&pb, "target") {
                Ok(m) => m,
                Err(e) => return Some(e),
            };
            if let Some(d) = diff_sets(&ma, &mb) {
                return Some(d);
            }
            for (k, (ta, xa)) in &ma {
                let (tb, xb) = mb[k];
                if *ta != tb {
                    return Some(format!("{k}: sample time {ta} vs {tb}"));
                }
                if !close(*xa, xb) {
                    return Some(format!("{k} @{ta}: {} vs {}", show(*xa), show(xb)));
                }
            }
            if ordered {
                for (i, ((ka, _, xa), (kb, _, xb))) in va.iter().zip(vb).enumerate() {
                    if !close(*xa, *xb) {
                        return Some(format!(
                            "order: element {i} is {ka}={} vs {kb}={}",
                            show(*xa),
                            show(*xb)
                        ));
                    }
                }
            }
            None
        }
        (Res::Matrix(ma), Res::Matrix(mb)) => {
            let ma = match by_key(ma, "reference") {
                Ok(m) => m,
                Err(e) => return Some(e),
            };
            let mb = match by_key(mb, "target") {
                Ok(m) => m,
                Err(e) => return Some(e),
            };
            if let Some(d) = diff_sets(&ma, &mb) {
                return Some(d);
            }
            for (k, pa) in &ma {
                let pb = &mb[k];
                for (i, (x, y)) in pa.iter().zip(pb).enumerate() {
                    if x.0 != y.0 {
                        return Some(format!("{k}: point {i} at {} vs {}", x.0, y.0));
                    }
                    if !close(x.1, y.1) {
                        return Some(format!("{k} @{}: {} vs {}", x.0, show(x.1), show(y.1)));
                    }
                }
                if pa.len() != pb.len() {
                    let (short, long, side) = if pa.len() < pb.len() {
                        (pa, pb, "target")
                    } else {
                        (pb, pa, "reference")
                    };
                    return Some(format!(
                        "{k}: {} vs {} points; {side} also has @{}",
                        pa.len(),
                        pb.len(),
                        long[short.len()].0
                    ));
                }
            }
            None
        }
        _ => Some(format!("result type {} vs {}", type_name(a), type_name(b))),
    }
}

fn type_name(r: &Res) -> &'static str {
    match r {
        Res::Scalar(..) => "scalar",
        Res::Str(..) => "string",
        Res::Vector(_) => "vector",
        Res::Matrix(_) => "matrix",
    }
}

/// Compares the answers of the reference (Prometheus) and the target.
pub fn compare(a: &Result<Json, String>, b: &Result<Json, String>, ordered: bool) -> Outcome {
    match (a, b) {
        (Err(ea), Err(eb)) => Outcome::BothErr(ea.clone(), eb.clone()),
        (Err(ea), Ok(_)) => Outcome::Differ(format!("only the reference fails: {ea}")),
        (Ok(_), Err(eb)) => Outcome::Differ(format!("only the target fails: {eb}")),
        (Ok(ja), Ok(jb)) => match (parse(ja), parse(jb)) {
            (Err(e), _) => Outcome::Differ(format!("unreadable reference answer: {e}")),
            (_, Err(e)) => Outcome::Differ(format!("unreadable target answer: {e}")),
            (Ok(ra), Ok(rb)) => match compare_res(&ra, &rb, ordered) {
                None => Outcome::Agree,
                Some(d) => Outcome::Differ(d),
            },
        },
    }
}

/// True when the answer holds no sample at all (an empty vector or matrix).
pub fn is_empty(data: &Json) -> bool {
    data["result"].as_array().is_some_and(|a| a.is_empty())
}

/// A deliberately wrong copy of an answer: its first value times 1 + 1e-6 (NaN becomes 0,
/// ±Inf becomes 0). `None` when the answer holds no value.
pub fn perturb(data: &Json) -> Option<Json> {
    fn bump(p: &mut Json) {
        let v = parse_value(p[1].as_str().unwrap_or("0")).unwrap_or(0.0);
        let w = if v.is_finite() {
            if v == 0.0 { 1e-6 } else { v * (1.0 + 1e-6) }
        } else {
            0.0
        };
        p[1] = Json::String(format_value(w));
    }
    let mut d = data.clone();
    match d["resultType"].as_str()? {
        "scalar" => bump(&mut d["result"]),
        "vector" => bump(d["result"].get_mut(0)?.get_mut("value")?),
        "matrix" => bump(d["result"].get_mut(0)?.get_mut("values")?.get_mut(0)?),
        _ => return None,
    }
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn matrix() -> Json {
        json!({"resultType": "matrix", "result": [
            {"metric": {"__name__": "up", "job": "a"}, "values": [[1700000000, "1"], [1700000015.5, "NaN"]]},
            {"metric": {"job": "b"}, "values": [[1700000000, "+Inf"], [1700000015, "-2.5e-7"]]},
        ]})
    }

    fn ok(j: Json) -> Result<Json, String> {
        Ok(j)
    }

    #[test]
    fn identical_answers_agree_whatever_the_series_order() {
        let a = matrix();
        assert_eq!(
            compare(&ok(a.clone()), &ok(a.clone()), false),
            Outcome::Agree
        );
        let mut b = a.clone();
        b["result"].as_array_mut().unwrap().reverse();
        // Labels in another order within an object are the same label set.
        b["result"][0]["metric"] = json!({"job": "b"});
        assert_eq!(compare(&ok(a), &ok(b), false), Outcome::Agree);
    }

    #[test]
    fn a_perturbed_value_is_caught() {
        let a = matrix();
        let b = perturb(&a).unwrap();
        let Outcome::Differ(d) = compare(&ok(a.clone()), &ok(b), false) else {
            panic!("not caught")
        };
        assert!(d.contains("1 vs 1.000001"), "{d}");
        // Within tolerance: 1e-10 relative passes, NaN vs number and Inf vs big do not.
        assert!(close(1e6, 1e6 * (1.0 + 1e-10)));
        assert!(close(0.0, 1e-13));
        assert!(!close(0.0, 1e-11));
        assert!(!close(f64::NAN, 0.0));
        assert!(!close(f64::INFINITY, f64::MAX));
        assert!(!close(f64::INFINITY, f64::NEG_INFINITY));
        let mut c = a.clone();
        c["result"][0]["values"][1][1] = json!("0");
        assert!(
            matches!(compare(&ok(a), &ok(c), false), Outcome::Differ(d) if d.contains("NaN vs 0"))
        );
    }

    #[test]
    fn label_sets_timestamps_and_lengths_are_exact() {
        let a = matrix();
        let mut b = a.clone();
        b["result"][1]["metric"]["job"] = json!("c");
        assert!(
            matches!(compare(&ok(a.clone()), &ok(b), false), Outcome::Differ(d) if d.contains("only in"))
        );
        let mut b = a.clone();
        b["result"][0]["values"][1][0] = json!(1700000015.0);
        assert!(
            matches!(compare(&ok(a.clone()), &ok(b), false), Outcome::Differ(d) if d.contains("1700000015500 vs 1700000015000"))
        );
        let mut b = a.clone();
        b["result"][0]["values"].as_array_mut().unwrap().pop();
        assert!(
            matches!(compare(&ok(a.clone()), &ok(b), false), Outcome::Differ(d) if d.contains("2 vs 1 points"))
        );
        let mut b = a.clone();
        b["result"][1]["metric"] = json!({"__name__": "up", "job": "a"});
        assert!(
            matches!(compare(&ok(a), &ok(b), false), Outcome::Differ(d) if d.contains("twice"))
        );
    }

    #[test]
    fn errors_agree_only_with_errors() {
        let e = Err::<Json, _>("parse error".to_string());
        assert!(matches!(compare(&e, &e, false), Outcome::BothErr(..)));
        assert!(matches!(
            compare(&e, &ok(matrix()), false),
            Outcome::Differ(_)
        ));
        assert!(matches!(
            compare(&ok(matrix()), &e, false),
            Outcome::Differ(_)
        ));
    }

    #[test]
    fn vectors_are_sets_unless_ordered() {
        let a = json!({"resultType": "vector", "result": [
            {"metric": {"i": "1"}, "value": [1700000000, "3"]},
            {"metric": {"i": "2"}, "value": [1700000000, "1"]},
            {"metric": {"i": "3"}, "value": [1700000000, "1"]},
        ]});
        let mut b = a.clone();
        b["result"].as_array_mut().unwrap().reverse();
        assert_eq!(
            compare(&ok(a.clone()), &ok(b.clone()), false),
            Outcome::Agree
        );
        assert!(
            matches!(compare(&ok(a.clone()), &ok(b), true), Outcome::Differ(d) if d.contains("order"))
        );
        // Ties may come in any order.
        let mut c = a.clone();
        c["result"].as_array_mut().unwrap().swap(1, 2);
        assert_eq!(compare(&ok(a.clone()), &ok(c), true), Outcome::Agree);
        // A sample's time counts.
        let mut d = a.clone();
        d["result"][0]["value"][0] = json!(1700000001);
        assert!(matches!(
            compare(&ok(a.clone()), &ok(d), false),
            Outcome::Differ(_)
        ));
        // A vector is not a matrix.
        assert!(
            matches!(compare(&ok(a), &ok(matrix()), false), Outcome::Differ(d) if d.contains("result type"))
        );
    }

    #[test]
    fn scalars_and_strings() {
        let a = json!({"resultType": "scalar", "result": [1700000000.25, "0.1"]});
        assert_eq!(
            compare(&ok(a.clone()), &ok(a.clone()), false),
            Outcome::Agree
        );
        let b = perturb(&a).unwrap();
        assert!(matches!(
            compare(&ok(a.clone()), &ok(b), false),
            Outcome::Differ(_)
        ));
        assert_eq!(parse(&a).unwrap(), Res::Scalar(1_700_000_000_250, 0.1));
        let s = json!({"resultType": "string", "result": [1700000000, "x"]});
        let t = json!({"resultType": "string", "result": [1700000000, "y"]});
        assert!(matches!(
            compare(&ok(s.clone()), &ok(t), false),
            Outcome::Differ(_)
        ));
        assert_eq!(compare(&ok(s.clone()), &ok(s), false), Outcome::Agree);
    }

    #[test]
    fn values_print_and_parse_as_prometheus_does() {
        for v in [0.1, -2.5, 1e21, 5e-324, 1.0, 0.0] {
            assert_eq!(
                parse_value(&format_value(v)).unwrap().to_bits(),
                v.to_bits()
            );
        }
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NEG_INFINITY), "-Inf");
        assert!(parse_value(&format_value(f64::NAN)).unwrap().is_nan());
        assert_eq!(format_value(1e21), "1000000000000000000000");
        assert!(parse_value("x").is_err());
    }
}
