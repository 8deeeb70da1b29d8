//! The expressions compared, generated from templates crossed with selectors (every matcher
//! kind), ranges, offsets, `@` modifiers and subqueries, over counters and gauges.

/// One expression of the corpus.
#[derive(Debug, Clone)]
pub struct Case {
    pub expr: String,
    pub category: &'static str,
    /// Prometheus must fail on it at every time (parse errors, type errors, many-to-many):
    /// agreement is the target failing too.
    pub must_fail: bool,
}

impl Case {
    /// True when an instant query's order is part of the answer: Prometheus 2.42 sorts the
    /// result of a top-level `sort`/`sort_desc` by value (and nothing else it guarantees).
    pub fn ordered(&self) -> bool {
        self.expr.starts_with("sort(") || self.expr.starts_with("sort_desc(")
    }
}

/// Counter selectors: `=`, `!=`, `=~`, `!~` and a `__name__` regex.
pub const COUNTERS: &[&str] = &[
    "http_requests_total",
    r#"http_requests_total{job="api"}"#,
    r#"http_requests_total{code!="200"}"#,
    r#"http_requests_total{instance=~"(a|c):.*"}"#,
    r#"http_requests_total{method!~"g.*"}"#,
    r#"{__name__=~"http_requests_total|errors_total", job="api"}"#,
    r#"node_cpu_seconds_total{mode="user"}"#,
    "errors_total",
    "http_request_duration_seconds_count",
];

/// Gauge selectors.
pub const GAUGES: &[&str] = &[
    "temperature_celsius",
    r#"temperature_celsius{sensor!="cpu"}"#,
    r#"temperature_celsius{instance=~".*:9090"}"#,
    "queue_depth",
    r#"{__name__=~"temperature_.*|memory_usage_bytes", job="node", instance!~"b.*"}"#,
    "memory_usage_bytes",
];

pub const RANGES: &[&str] = &["1m", "5m", "17m"];

/// Modifiers of a selector: none, offsets (also negative), `@` start/end/a time within the
/// data, and `@` with an offset.
pub const MODIFIERS: &[&str] = &[
    "",
    " offset 10m",
    " @ end()",
    " offset -7m",
    " @ start()",
    " @ 1700004321",
    "",
    " @ end() offset 5m",
];

fn pick<'a>(list: &[&'a str], i: usize) -> &'a str {
    list[i % list.len()]
}

/// Builds the corpus.
pub fn corpus() -> Vec<Case> {
    let mut out: Vec<Case> = Vec::new();
    let mut add = |category: &'static str, expr: String| {
        out.push(Case {
            expr,
            category,
            must_fail: false,
        })
    };

    // Instant and range selectors with every modifier.
    for (i, s) in COUNTERS.iter().chain(GAUGES).enumerate() {
        add("selector", format!("{s}{}", pick(MODIFIERS, i)));
    }
    for (i, s) in GAUGES.iter().enumerate() {
        // An instant query returns the raw points; a range query must fail on both.
        add(
            "selector",
            format!("{s}[{}]{}", pick(RANGES, i), pick(MODIFIERS, i + 3)),
        );
    }

    // Counter functions over every counter selector; ranges and modifiers rotate.
    let counter_fns = ["rate", "irate", "increase", "resets", "changes"];
    for (f, name) in counter_fns.iter().enumerate() {
        for (i, s) in COUNTERS.iter().enumerate() {
            let r = pick(RANGES, i + f);
            let m = pick(MODIFIERS, i * 3 + f);
            add("counter-range-fn", format!("{name}({s}[{r}]{m})"));
        }
    }
    for name in ["rate", "increase", "irate", "delta", "deriv"] {
        for r in RANGES {
            add(
                "counter-range-fn",
                format!("{name}(node_cpu_seconds_total{{instance=\"b:9100\"}}[{r}])"),
            );
        }
    }

    // Gauge functions over every gauge selector.
    let gauge_fns = [
        "delta",
        "idelta",
        "deriv",
        "avg_over_time",
        "min_over_time",
        "max_over_time",
        "sum_over_time",
        "count_over_time",
        "last_over_time",
        "present_over_time",
        "stddev_over_time",
        "stdvar_over_time",
        "absent_over_time",
        "changes",
        "resets",
    ];
    for (f, name) in gauge_fns.iter().enumerate() {
        for (i, s) in GAUGES.iter().enumerate() {
            let r = pick(RANGES, i + f);
            let m = pick(MODIFIERS, i * 5 + f);
            add("gauge-range-fn", format!("{name}({s}[{r}]{m})"));
        }
    }
    for (i, name) in [
        "avg_over_time",
        "sum_over_time",
        "stddev_over_time",
        "max_over_time",
    ]
    .iter()
    .enumerate()
    {
        add(
            "gauge-range-fn",
            format!("{name}({}[{}])", pick(COUNTERS, i * 2), pick(RANGES, i)),
        );
    }
    for s in [
        "nonexistent_metric",
        r#"temperature_celsius{sensor="none", job="api"}"#,
        r#"nonexistent_metric{job=~"a.*", instance="x"}"#,
    ] {
        add("gauge-range-fn", format!("absent_over_time({s}[5m])"));
    }
    for (i, s) in GAUGES.iter().enumerate() {
        let r = pick(RANGES, i);
        let m = pick(MODIFIERS, i);
        add(
            "gauge-range-fn",
            format!("predict_linear({s}[{r}]{m}, 600)"),
        );
        add("gauge-range-fn", format!("predict_linear({s}[{r}], -300)"));
        let (sf, tf) = [(0.5, 0.5), (0.1, 0.9), (0.9, 0.1)][i % 3];
        add(
            "gauge-range-fn",
            format!("holt_winters({s}[{r}]{m}, {sf}, {tf})"),
        );
    }
    for (i, q) in ["0", "0.25", "0.5", "0.9", "1", "-0.5", "1.5"]
        .iter()
        .enumerate()
    {
        let s = pick(GAUGES, i);
        add(
            "gauge-range-fn",
            format!(
                "quantile_over_time({q}, {s}[{}]{})",
                pick(RANGES, i),
                pick(MODIFIERS, i)
            ),
        );
    }

    // Instant functions.
    let math = [
        "abs", "ceil", "floor", "round", "exp", "ln", "log2", "log10", "sqrt", "sgn", "sin", "cos",
        "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "deg",
        "rad",
    ];
    for (i, f) in math.iter().enumerate() {
        add("instant-fn", format!("{f}(temperature_celsius)"));
        let other = [
            "queue_depth",
            "rate(http_requests_total[5m])",
            "temperature_celsius / 10",
            "memory_usage_bytes",
        ][i % 4];
        add("instant-fn", format!("{f}({other})"));
    }
    for e in [
        "round(temperature_celsius, 0.5)",
        "round(temperature_celsius, 3)",
        "round(-queue_depth / 2)",
        "clamp(temperature_celsius, -2, 5)",
        "clamp(temperature_celsius, 5, -2)",
        "clamp_min(temperature_celsius, 0)",
        "clamp_max(temperature_celsius, 3.5)",
        "clamp_min(rate(http_requests_total[5m]), 1)",
        "clamp_max(queue_depth, scalar(queue_depth{instance=\"a:9090\"}))",
        "pi()",
        "time()",
        "time() - 1700000000",
        "vector(1)",
        "vector(time())",
        "scalar(queue_depth)",
        "scalar(queue_depth{instance=\"a:9090\"})",
        "scalar(sum(queue_depth))",
        "timestamp(temperature_celsius)",
        "timestamp(temperature_celsius offset 5m)",
        "timestamp(errors_total @ 1700004321)",
        "timestamp(rate(http_requests_total[5m]))",
        "sort(queue_depth)",
        "sort(temperature_celsius)",
        "sort_desc(rate(http_requests_total[5m]))",
        "sort_desc(memory_usage_bytes)",
        "absent(queue_depth)",
        "absent(nonexistent_metric)",
        "absent(nonexistent_metric{job=\"x\", instance=~\"y\"})",
        "absent(sum(nonexistent_metric))",
        r#"label_replace(queue_depth, "host", "$1", "instance", "(.*):.*")"#,
        r#"label_replace(temperature_celsius, "instance", "", "instance", "a.*")"#,
        r#"label_replace(queue_depth, "job", "x-$1", "nonexistent", "(.*)")"#,
        r#"label_replace(rate(http_requests_total[5m]), "__name__", "renamed", "job", "api")"#,
        r#"label_replace(queue_depth, "foo", "$2", "instance", "(a)")"#,
        r#"label_join(queue_depth, "id", ",", "job", "instance")"#,
        r#"label_join(temperature_celsius, "job", "-", "sensor")"#,
        r#"label_join(queue_depth, "empty", ":", "nonexistent")"#,
        r#"label_join(rate(http_requests_total[5m]), "x", "", "method", "code")"#,
    ] {
        add("instant-fn", e.to_owned());
    }
    for f in [
        "day_of_month",
        "day_of_week",
        "day_of_year",
        "days_in_month",
        "hour",
        "minute",
        "month",
        "year",
    ] {
        add("date-fn", format!("{f}()"));
        add("date-fn", format!("{f}(timestamp(queue_depth))"));
        add("date-fn", format!("{f}(vector(1709251199))"));
    }

    // histogram_quantile.
    let bucket = "http_request_duration_seconds_bucket";
    for (i, q) in ["0.5", "0.9", "0.99", "0", "1", "-1", "2"]
        .iter()
        .enumerate()
    {
        let inner = [
            format!("rate({bucket}[5m])"),
            format!("sum by (le) (rate({bucket}[5m]))"),
            format!("sum by (le, instance) (rate({bucket}[17m]))"),
            format!("sum without (instance) (increase({bucket}[1m]))"),
        ];
        add(
            "histogram",
            format!("histogram_quantile({q}, {})", inner[i % inner.len()]),
        );
    }
    for e in [
        format!("histogram_quantile(0.9, {bucket})"),
        format!("histogram_quantile(0.5, {bucket} offset 30m)"),
        format!("histogram_quantile(0.75, rate({bucket}[1m]))"),
        format!(
            "histogram_quantile(0.9, sum by (le) (rate({bucket}[5m])) / ignoring(le) group_left sum(rate({bucket}{{le=\"+Inf\"}}[5m])))"
        ),
        "rate(http_request_duration_seconds_sum[5m]) / rate(http_request_duration_seconds_count[5m])"
            .to_owned(),
    ] {
        add("histogram", e);
    }

    // Aggregations with by/without.
    let operands = [
        "temperature_celsius",
        "rate(http_requests_total[5m])",
        "node_cpu_seconds_total",
        "queue_depth",
    ];
    let groupings = [
        "",
        " by (job)",
        " without (instance)",
        " by (instance, mode)",
        " by ()",
    ];
    for (o, op) in [
        "sum", "avg", "min", "max", "count", "group", "stddev", "stdvar",
    ]
    .iter()
    .enumerate()
    {
        for (g, grouping) in groupings.iter().enumerate() {
            let x = pick(&operands, o + g);
            add("aggregation", format!("{op}{grouping} ({x})"));
        }
    }
    for (i, e) in [
        "topk(2, temperature_celsius)",
        "topk(1, rate(http_requests_total[5m])) by (job)",
        "topk(3, node_cpu_seconds_total) by (instance, cpu)",
        "bottomk(1, temperature_celsius) by (job)",
        "bottomk(2, rate(http_requests_total[5m]))",
        "bottomk(5, queue_depth)",
        "quantile(0.5, temperature_celsius)",
        "quantile(0.9, rate(http_requests_total[5m])) by (job)",
        "quantile(0, node_cpu_seconds_total) without (cpu)",
        "quantile(1.5, queue_depth)",
        "count_values(\"value\", queue_depth)",
        "count_values(\"depth\", queue_depth) by (job)",
        "count_values(\"le\", http_request_duration_seconds_bucket) by (instance)",
        "sum(temperature_celsius) by (job)",
        "max(sum by (job, instance) (rate(http_requests_total[5m])))",
        "avg by (nonexistent) (temperature_celsius)",
        "count without (job, instance, sensor) (temperature_celsius)",
        "stddev by (mode) (rate(node_cpu_seconds_total[5m]))",
        "sum by (mode) (rate(node_cpu_seconds_total[5m]))",
        "sum by (__name__) ({__name__=~\"queue_depth|temperature_celsius\"})",
        "topk(scalar(min(queue_depth)) + 1, temperature_celsius)",
        "avg(memory_usage_bytes)",
    ]
    .iter()
    .enumerate()
    {
        let _ = i;
        add("aggregation", (*e).to_owned());
    }

    // Binary operators.
    for op in ["+", "-", "*", "/", "%", "^", "atan2"] {
        add("binop-arith", format!("temperature_celsius {op} 2"));
        add("binop-arith", format!("3 {op} queue_depth"));
        add(
            "binop-arith",
            format!("temperature_celsius {op} temperature_celsius offset 5m"),
        );
        add(
            "binop-arith",
            format!(
                "rate(http_requests_total[5m]) {op} ignoring(code) group_left sum without (code) (rate(http_requests_total[5m]))"
            ),
        );
        add("binop-arith", format!("7 {op} 2"));
    }
    for op in ["==", "!=", ">", "<", ">=", "<="] {
        add("binop-cmp", format!("temperature_celsius {op} 3"));
        add("binop-cmp", format!("temperature_celsius {op} bool 3"));
        add("binop-cmp", format!("1 {op} bool 2"));
        add("binop-cmp", format!("2 {op} queue_depth"));
        add(
            "binop-cmp",
            format!("queue_depth {op} on(job, instance) temperature_celsius{{sensor=\"cpu\"}}"),
        );
        add(
            "binop-cmp",
            format!(
                "queue_depth {op} bool on(job, instance) temperature_celsius{{sensor=\"cpu\"}}"
            ),
        );
    }
    for op in ["and", "or", "unless"] {
        add("binop-set", format!("temperature_celsius {op} queue_depth"));
        add(
            "binop-set",
            format!("temperature_celsius {op} on(instance) queue_depth > 2"),
        );
        add(
            "binop-set",
            format!("temperature_celsius {op} ignoring(sensor) (queue_depth > 1)"),
        );
        add(
            "binop-set",
            format!(
                "rate(http_requests_total[5m]) {op} on(job, instance) (sum by (job, instance) (rate(http_requests_total[5m])) > 10)"
            ),
        );
        add("binop-set", format!("queue_depth > 2 {op} queue_depth < 5"));
    }
    for e in [
        "queue_depth * on(instance) group_left(sensor) temperature_celsius{sensor=\"cpu\"}",
        "sum by (instance) (queue_depth) * on(instance) group_right temperature_celsius",
        "sum by (job) (queue_depth) + on(job) group_right(sensor) temperature_celsius",
        "node_cpu_seconds_total / ignoring(mode) group_left sum without (mode) (node_cpu_seconds_total)",
        "rate(node_cpu_seconds_total[5m]) / on(instance, cpu) group_left sum by (instance, cpu) (rate(node_cpu_seconds_total[5m]))",
        "http_requests_total{code=\"500\"} / ignoring(code) http_requests_total{code=\"200\"}",
        "rate(http_requests_total{code=\"500\"}[5m]) / ignoring(code) rate(http_requests_total{code=\"200\"}[5m])",
        "queue_depth / 0",
        "queue_depth / queue_depth",
        "-queue_depth",
        "-temperature_celsius offset 1m",
        "1 / 0",
        "-1 / 0",
        "0 / 0",
        "2 * 3 ^ 2",
        "-2 ^ 2",
        "2 ^ 3 ^ 2",
        "(1 + 2) * queue_depth",
        "queue_depth - queue_depth offset 1m > bool 0",
        "time() - timestamp(temperature_celsius)",
        "scalar(queue_depth{instance=\"b:9090\"}) * temperature_celsius",
        "memory_usage_bytes % 1000",
        "-7 % 3",
        "queue_depth and on() vector(1)",
        "queue_depth or vector(0)",
        "sum(queue_depth) or vector(0)",
        "(queue_depth > 3) unless on(instance) (temperature_celsius < 0)",
        "temperature_celsius > 0 < 5",
    ] {
        add("binop-misc", e.to_owned());
    }

    // Subqueries.
    for e in [
        "max_over_time(rate(http_requests_total[5m])[30m:1m])",
        "avg_over_time(temperature_celsius[17m:37s])",
        "min_over_time(queue_depth[10m:])",
        "rate(http_requests_total[17m:30s])",
        "sum_over_time(sum by (job) (rate(http_requests_total[1m]))[20m:2m] offset 10m)",
        "max_over_time(deriv(temperature_celsius[5m])[1h:5m] @ end())",
        "quantile_over_time(0.9, temperature_celsius[30m:45s])",
        "last_over_time(temperature_celsius[5m:1m] @ 1700004321)",
        "count_over_time(errors_total[1h:])",
        "changes(queue_depth[30m:15s])",
        "deriv(sum(node_cpu_seconds_total)[10m:1m])",
        "increase(errors_total[1h:1m])",
        "max_over_time(temperature_celsius[3m:1m] offset -5m)",
        "max_over_time(avg_over_time(temperature_celsius[5m:1m])[20m:5m])",
        "stddev_over_time(rate(node_cpu_seconds_total{mode=\"idle\"}[1m])[17m:1m] @ start())",
        "irate(http_requests_total[5m:15s])",
        "absent_over_time(nonexistent_metric[5m:1m])",
        "predict_linear(temperature_celsius[30m:1m], 3600)",
        "predict_linear(temperature_celsius[5m] @ start(), 600)",
        "predict_linear(queue_depth[17m] @ 1700004321, -300) - queue_depth @ 1700004321",
        "sum by (job) (rate(http_requests_total[5m] @ start())) + time()",
        "resets(http_requests_total[1h:1m])",
        "avg_over_time((temperature_celsius > 0)[10m:30s])",
    ] {
        add("subquery", e.to_owned());
    }

    // Failures both must report.
    for e in [
        "rate(",
        "sum by (job) (",
        "temperature_celsius{",
        "1 +",
        "queue_depth queue_depth",
        "rate(temperature_celsius)",
        "temperature_celsius[5m] + 1",
        "sum(temperature_celsius[5m])",
        "topk(\"a\", queue_depth)",
        "unknown_function(queue_depth)",
        "label_replace(queue_depth, \"1x\", \"$1\", \"job\", \"(.*)\")",
        "label_replace(queue_depth, \"x\", \"$1\", \"job\", \"(\")",
        "http_requests_total + on(job) http_requests_total",
        "http_requests_total * on(job) group_left temperature_celsius",
        "queue_depth and bool queue_depth",
        "{}",
        "{job=~\".*\"}",
        "quantile_over_time(0.5, queue_depth)",
        "scalar(queue_depth[5m])",
        "abs()",
        "count_values(\"1bad\", queue_depth)",
        "absent_over_time(queue_depth)",
        "vector(\"a\")",
        "queue_depth[5m:1m:1m]",
        "queue_depth offset",
        "1 > 2",
        // Two series with one label set once the names are dropped.
        r#"rate({__name__=~"queue_depth|memory_usage_bytes"}[5m])"#,
    ] {
        out.push(Case {
            expr: e.to_owned(),
            category: "error",
            must_fail: true,
        });
    }
    out
}

/// One line of `deviations.txt`: a pattern (`*` matches any text) and the reason.
#[derive(Debug, Clone)]
pub struct Deviation {
    pub pattern: String,
    pub reason: String,
}

/// Reads `deviations.txt`: one deliberate deviation a line, `PATTERN # reason`; blank lines
/// and lines starting with `#` are comments.
pub fn parse_deviations(text: &str) -> Result<Vec<Deviation>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((pattern, reason)) = line.split_once(" # ") else {
            return Err(format!("line {}: no ` # reason`: {line}", n + 1));
        };
        if reason.trim().is_empty() {
            return Err(format!("line {}: empty reason", n + 1));
        }
        out.push(Deviation {
            pattern: pattern.trim().to_owned(),
            reason: reason.trim().to_owned(),
        });
    }
    Ok(out)
}

/// True when `text` matches `pattern`, where `*` matches any run of characters.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_is_large_unique_and_covers_the_functions() {
        let c = corpus();
        assert!(c.len() >= 300, "{}", c.len());
        let mut seen = std::collections::BTreeSet::new();
        for case in &c {
            assert!(seen.insert(&case.expr), "twice: {}", case.expr);
            assert!(!case.expr.contains('#'), "{}", case.expr);
        }
        let all: String = c
            .iter()
            .map(|c| c.expr.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        for needle in [
            "rate(",
            "irate(",
            "increase(",
            "delta(",
            "idelta(",
            "deriv(",
            "predict_linear(",
            "resets(",
            "changes(",
            "avg_over_time(",
            "min_over_time(",
            "max_over_time(",
            "sum_over_time(",
            "count_over_time(",
            "quantile_over_time(",
            "stddev_over_time(",
            "stdvar_over_time(",
            "last_over_time(",
            "present_over_time(",
            "absent_over_time(",
            "holt_winters(",
            "histogram_quantile(",
            "label_replace(",
            "label_join(",
            "abs(",
            "ceil(",
            "floor(",
            "round(",
            "clamp(",
            "clamp_min(",
            "clamp_max(",
            "exp(",
            "ln(",
            "log2(",
            "log10(",
            "sqrt(",
            "sgn(",
            "sin(",
            "acosh(",
            "deg(",
            "rad(",
            "pi()",
            "timestamp(",
            "time()",
            "vector(",
            "scalar(",
            "sort(",
            "sort_desc(",
            "absent(",
            "day_of_week(",
            "days_in_month(",
            "year(",
            "topk(",
            "bottomk(",
            "quantile(",
            "count_values(",
            "group",
            "stddev",
            "stdvar",
            " by (",
            " without (",
            " bool ",
            " on(",
            " ignoring(",
            "group_left",
            "group_right",
            " and ",
            " or ",
            " unless ",
            "!=",
            "=~",
            "!~",
            "__name__=~",
            "offset -",
            "@ start()",
            "@ end()",
            "@ 17",
            ":1m]",
            ":]",
        ] {
            assert!(all.contains(needle), "no expression has {needle:?}");
        }
    }

    #[test]
    fn deviations_parse_and_match() {
        let d = parse_deviations("# comment\n\nholt_winters(* # renamed in 3.x\nrate(x[5m]) # r\n")
            .unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].reason, "renamed in 3.x");
        assert!(glob(
            &d[0].pattern,
            "holt_winters(queue_depth[5m], 0.5, 0.5)"
        ));
        assert!(!glob(&d[0].pattern, "sum(holt_winters(q[5m], 1, 1))"));
        assert!(glob(&d[1].pattern, "rate(x[5m])"));
        assert!(!glob(&d[1].pattern, "rate(x[5m]) + 1"));
        assert!(glob("*a*b*", "xxaxxbxx"));
        assert!(!glob("*a*b", "xxbxxa"));
        assert!(!glob("ab*ba", "aba"));
        assert!(parse_deviations("rate(x) without reason\n").is_err());
        assert!(parse_deviations(include_str!("deviations.txt")).is_ok());
    }
}
