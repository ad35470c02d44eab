//! The metric names a PromQL expression reads, so a test can check that every metric a dashboard
//! or alert queries is really exported.
//!
//! A small tokenizer, not a parser: it skips string literals, label matchers (`{...}`), ranges and
//! subqueries (`[5m]`, `[1h:5m]`), numbers and durations, Grafana variables (`$namespace`,
//! `${datasource}`, `$__rate_interval`), comments, keywords and operators, the label lists after
//! `by`, `without`, `on`, `ignoring`, `group_left` and `group_right`, and any identifier followed
//! by `(` (a function or aggregation). Every other identifier is a metric name.

use std::collections::BTreeSet;

/// Aggregation operators: they may be followed by `by (...)`/`without (...)` before their `(`.
const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

/// Keywords followed by a parenthesised label list (optional for the group modifiers).
const LABEL_LIST_KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// Binary operators, modifiers and literals spelled as identifiers.
const KEYWORDS: &[&str] = &["and", "or", "unless", "bool", "offset", "atan2"];

/// The metric names `expr` reads, sorted.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => i = skip_string(&chars, i),
            '{' => i = skip_balanced(&chars, i, '{', '}'),
            '[' => i = skip_balanced(&chars, i, '[', ']'),
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '$' => {
                i += 1;
                if chars.get(i) == Some(&'{') {
                    i = skip_balanced(&chars, i, '{', '}');
                } else {
                    while i < chars.len() && is_ident_continue(chars[i]) {
                        i += 1;
                    }
                }
            }
            c if c.is_ascii_digit()
                || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                // Numbers, hex, exponents and durations (`5m`, `1h30m`): all one token.
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            c if is_ident_start(c) => {
                let start = i;
                while i < chars.len() && is_ident_continue(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let lower = word.to_ascii_lowercase();
                let next = next_non_space(&chars, i);
                if LABEL_LIST_KEYWORDS.contains(&lower.as_str()) {
                    if next.is_some_and(|j| chars[j] == '(') {
                        i = skip_balanced(&chars, next.expect("checked"), '(', ')');
                    }
                } else if KEYWORDS.contains(&lower.as_str())
                    || lower == "inf"
                    || lower == "nan"
                    || AGGREGATIONS.contains(&lower.as_str())
                    || next.is_some_and(|j| chars[j] == '(')
                {
                    // An operator, a literal, or a function/aggregation name.
                } else {
                    names.insert(word);
                }
            }
            _ => i += 1,
        }
    }
    names
}

/// The metric names a Grafana variable query reads: `label_values(selector, label)` reads the
/// selector's; `label_values(label)`, `label_names()` and `metrics(...)` read none; `query_result(expr)`
/// and anything else is read as PromQL.
pub fn variable_query_metric_names(query: &str) -> BTreeSet<String> {
    let q = query.trim();
    if let Some(inner) = q
        .strip_prefix("label_values(")
        .and_then(|r| r.strip_suffix(')'))
    {
        return match inner.rfind(',') {
            Some(comma) => metric_names(&inner[..comma]),
            None => BTreeSet::new(),
        };
    }
    if q.starts_with("label_names(") || q.starts_with("metrics(") {
        return BTreeSet::new();
    }
    if let Some(inner) = q
        .strip_prefix("query_result(")
        .and_then(|r| r.strip_suffix(')'))
    {
        return metric_names(inner);
    }
    metric_names(q)
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_ident_continue(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

fn next_non_space(chars: &[char], mut i: usize) -> Option<usize> {
    while i < chars.len() && chars[i].is_whitespace() {
        i += 1;
    }
    (i < chars.len()).then_some(i)
}

/// The index after the string literal opening at `i` (backslash escapes except in raw strings).
fn skip_string(chars: &[char], i: usize) -> usize {
    let quote = chars[i];
    let mut j = i + 1;
    while j < chars.len() {
        match chars[j] {
            '\\' if quote != '`' => j += 2,
            c if c == quote => return j + 1,
            _ => j += 1,
        }
    }
    j
}

/// The index after the bracket matching the `open` at `i`, strings inside skipped.
fn skip_balanced(chars: &[char], i: usize, open: char, close: char) -> usize {
    let mut depth = 0;
    let mut j = i;
    while j < chars.len() {
        match chars[j] {
            '"' | '\'' | '`' => {
                j = skip_string(chars, j);
                continue;
            }
            c if c == open => depth += 1,
            c if c == close => {
                depth -= 1;
                if depth == 0 {
                    return j + 1;
                }
            }
            _ => {}
        }
        j += 1;
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(expr: &str) -> Vec<String> {
        metric_names(expr).into_iter().collect()
    }

    #[test]
    fn a_selector_with_matchers_and_a_range_reads_one_metric() {
        assert_eq!(
            names(r#"rate(wiber_api_http_requests_total{status=~"5..", route!="/metrics"}[5m])"#),
            ["wiber_api_http_requests_total"]
        );
        assert_eq!(names("up"), ["up"]);
        assert_eq!(
            names("  process_cpu_seconds_total  "),
            ["process_cpu_seconds_total"]
        );
    }

    #[test]
    fn aggregation_label_lists_are_not_metrics_in_either_position() {
        assert_eq!(
            names(
                "histogram_quantile(0.99, sum by (route, le) (rate(wiber_api_http_request_duration_seconds_bucket[5m])))"
            ),
            ["wiber_api_http_request_duration_seconds_bucket"]
        );
        assert_eq!(
            names("sum(rate(a_total[1m])) without (pod, instance) / count(b) by(job)"),
            ["a_total", "b"]
        );
        assert_eq!(names("topk(5, max(c) by (le))"), ["c"]);
    }

    #[test]
    fn vector_matching_label_lists_are_not_metrics() {
        assert_eq!(
            names("a / on(namespace, name) group_left(pod) b * ignoring (x) group_right c"),
            ["a", "b", "c"]
        );
        assert_eq!(
            names("a > bool on() group_left b unless ignoring(job) d"),
            ["a", "b", "d"]
        );
        assert_eq!(names("a * on (x) group_left b"), ["a", "b"]);
    }

    #[test]
    fn strings_that_look_like_metrics_or_braces_are_skipped() {
        assert_eq!(
            names(r#"label_replace(m, "dst", "{x} y [z] not_a_metric", "src", "(.*)")"#),
            ["m"]
        );
        assert_eq!(
            names(
                r#"count_values('version', build_info{v="a\"b}c"}) or label_replace(up, "x", `raw\`, "y", 'z\'(')"#
            ),
            ["build_info", "up"]
        );
    }

    #[test]
    fn numbers_durations_offsets_subqueries_and_at_modifiers_are_skipped() {
        assert_eq!(
            names(
                "max_over_time(deriv(m[5m])[1h:5m] offset -1h30m) and n @ 1609746000 > 1e3 or p < 0x1F"
            ),
            ["m", "n", "p"]
        );
        assert_eq!(
            names("q @ start() + r @ end() - .5 * Inf + NaN"),
            ["q", "r"]
        );
        assert_eq!(names("s offset 5m"), ["s"]);
        assert_eq!(names("vector(1) + scalar(t) + 2.5e-3"), ["t"]);
    }

    #[test]
    fn grafana_variables_and_comments_are_skipped() {
        assert_eq!(
            names(
                "rate(m_total{namespace=~\"$namespace\"}[$__rate_interval]) * $__interval_ms / ${factor} # not_this\n+ n"
            ),
            ["m_total", "n"]
        );
    }

    #[test]
    fn metric_names_may_hold_colons_and_keywords_are_case_insensitive() {
        assert_eq!(
            names("job:requests:rate5m AND BY_NOT_KEYWORD OR sum BY (x) (y)"),
            ["BY_NOT_KEYWORD", "job:requests:rate5m", "y"]
        );
    }

    #[test]
    fn variable_queries_read_the_selector_of_label_values_only() {
        let read =
            |q: &str| -> Vec<String> { variable_query_metric_names(q).into_iter().collect() };
        assert_eq!(
            read(
                r#"label_values(wiber_operator_consumers_desired{namespace=~"$namespace"}, name)"#
            ),
            ["wiber_operator_consumers_desired"]
        );
        assert!(read("label_values(namespace)").is_empty());
        assert!(read("label_names()").is_empty());
        assert_eq!(read("query_result(sum by (x) (up))"), ["up"]);
    }
}
