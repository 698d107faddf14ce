//! Push-down of compiled clauses to conditions over the search attributes.
//!
//! Each term becomes a "hits" condition that contains every lead the term
//! hits, flagged exact when it contains no other. Includes use any hits
//! condition; an exclude is negated only when its hits condition is exact
//! (the negation of an over-approximation would drop leads), otherwise it
//! pushes nothing. A clause's push-down is exact (true for exactly the leads
//! the clause matches) when every term's hits condition is exact and no
//! range bound was widened.

use super::compile::{Clause, RangeRule, Span};
use super::search_attrs::{
    list_attr, place_attr, range_attrs, stand_in, text_stores, Store, SEP, SEP_STAND_IN,
};
use super::terms::{Mode, Parts, TextTerm};
use super::Cond;

fn contains(attr: &str, value: &str) -> Cond {
    Cond::Contains {
        attr: attr.to_string(),
        value: value.to_string(),
    }
}

/// A condition implied by "the term hits a value in this store", and whether
/// it is exact.
fn store_hit(store: Store, term: &TextTerm) -> (Cond, bool) {
    let attr = match store {
        Store::Single(attr) | Store::Joined(attr) => attr,
    };
    match (store, term.mode) {
        // "" is a substring of every value; a word-less term matches every value.
        (_, Mode::Smart) if term.text.is_empty() => (Cond::Exists(attr.to_string()), true),
        (_, Mode::Word) if term.words.is_empty() => (Cond::Exists(attr.to_string()), true),
        // No stored value is empty.
        (_, Mode::Strict) if term.text.is_empty() => (Cond::FALSE, true),
        (Store::Single(_), Mode::Smart) => (contains(attr, &term.text), true),
        (Store::Single(_), Mode::Strict) => (
            Cond::EqStr {
                attr: attr.to_string(),
                value: term.text.clone(),
            },
            true,
        ),
        // A substring of the joined values lies inside one value unless it
        // holds the separator; a value's U+001F is stored as U+001E, so a
        // term holding either may also hit where the value does not.
        (Store::Joined(_), Mode::Smart) => (
            contains(attr, &stand_in(&term.text)),
            !term.text.contains([SEP, SEP_STAND_IN]),
        ),
        (Store::Joined(_), Mode::Strict) => (
            contains(attr, &format!("{SEP}{}{SEP}", stand_in(&term.text))),
            !term.text.contains([SEP, SEP_STAND_IN]),
        ),
        // Each whole word is a substring: an over-approximation.
        (_, Mode::Word) => (
            Cond::And(term.words.iter().map(|w| contains(attr, w)).collect()),
            false,
        ),
    }
}

/// The condition of the four parts, and whether it is exact.
fn push_parts<T>(parts: &Parts<T>, hit: impl Fn(&T) -> (Cond, bool)) -> (Cond, bool) {
    let mut out = Vec::new();
    let mut exact = true;
    let mut hit = |t: &T| {
        let (c, e) = hit(t);
        exact &= e;
        (c, e)
    };
    if !parts.any_include.is_empty() {
        let any: Vec<Cond> = parts.any_include.iter().map(|t| hit(t).0).collect();
        out.push(Cond::Or(any));
    }
    for t in &parts.all_include {
        out.push(hit(t).0);
    }
    for t in &parts.any_exclude {
        if let (c, true) = hit(t) {
            out.push(Cond::Not(Box::new(c)));
        }
    }
    if !parts.all_exclude.is_empty() {
        let hits: Vec<(Cond, bool)> = parts.all_exclude.iter().map(&mut hit).collect();
        if hits.iter().all(|(_, exact)| *exact) {
            let negated = hits.into_iter().map(|(c, _)| Cond::Not(Box::new(c)));
            out.push(Cond::Or(negated.collect()));
        }
    }
    (Cond::And(out), exact)
}

/// Smallest non-zero magnitude of a pushed bound: DynamoDB numbers stop at
/// 1e-130, and a plain decimal of a bound between this and
/// [`MAX_RANGE_BOUND`](super::MAX_RANGE_BOUND) stays within its 38 digits.
const MIN_PUSHED_MAGNITUDE: f64 = 1e-6;

/// A lower bound at most `start` that DynamoDB can hold (weaker when moved).
fn pushed_start(start: f64) -> f64 {
    match start {
        s if s == 0.0 || s.abs() >= MIN_PUSHED_MAGNITUDE => s,
        s if s > 0.0 => 0.0,
        _ => -1.0,
    }
}

/// An upper bound at least `end` that DynamoDB can hold (weaker when moved).
fn pushed_end(end: f64) -> f64 {
    -pushed_start(-end)
}

/// The condition of one span, and whether it is exact (no bound widened).
fn push_span(span: &Span, lo: &str, hi: &str) -> (Cond, bool) {
    let mut out = Vec::new();
    let mut exact = true;
    if let Some(start) = span.start {
        let value = pushed_start(start);
        exact &= value == start;
        out.push(Cond::Ge {
            attr: lo.to_string(),
            value,
        });
    }
    if let Some(end) = span.end {
        let value = pushed_end(end);
        exact &= value == end;
        out.push(Cond::Le {
            attr: hi.to_string(),
            value,
        });
    }
    if out.is_empty() {
        out.push(Cond::Exists(lo.to_string()));
    }
    (Cond::And(out), exact)
}

impl Clause {
    /// A condition over the search attributes implied by [`Clause::matches`],
    /// and whether it is exact: equivalent to `matches` on every lead whose
    /// search attributes are current.
    pub(crate) fn pushdown(&self) -> (Cond, bool) {
        match self {
            Clause::Text(field, parts, _) => push_parts(parts, |term: &TextTerm| {
                let stores = text_stores(*field);
                let hits: Vec<(Cond, bool)> = stores.iter().map(|s| store_hit(*s, term)).collect();
                let exact = hits.iter().all(|(_, e)| *e);
                (Cond::Or(hits.into_iter().map(|(c, _)| c).collect()), exact)
            }),
            Clause::List(field, parts, _) => {
                let (attr, single) = list_attr(*field);
                push_parts(parts, |value: &String| {
                    let cond = if value.is_empty() {
                        Cond::FALSE
                    } else if single {
                        Cond::EqStr {
                            attr: attr.to_string(),
                            value: value.clone(),
                        }
                    } else {
                        contains(attr, value)
                    };
                    (cond, true)
                })
            }
            Clause::Location(place, parts, _) => {
                let attr = place_attr(*place);
                push_parts(parts, |components: &Vec<String>| {
                    let cond = if components.is_empty() {
                        Cond::FALSE
                    } else {
                        Cond::And(components.iter().map(|c| contains(attr, c)).collect())
                    };
                    (cond, true)
                })
            }
            Clause::Range(field, rule) => {
                let (lo, hi) = range_attrs(*field);
                match rule {
                    RangeRule::Unknown => (Cond::NotExists(lo.to_string()), true),
                    RangeRule::Within(spans) => {
                        let pushed: Vec<(Cond, bool)> =
                            spans.iter().map(|s| push_span(s, lo, hi)).collect();
                        let exact = pushed.iter().all(|(_, e)| *e);
                        (
                            Cond::Or(pushed.into_iter().map(|(c, _)| c).collect()),
                            exact,
                        )
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::filters::{compile, Cond};

    fn bounds(range: serde_json::Value) -> Cond {
        compile(&json!({"account": {"revenue": {"range": range}}}))
            .expect("valid")
            .pushdown()
    }

    fn ge(value: f64) -> Cond {
        Cond::Ge {
            attr: "rl".into(),
            value,
        }
    }

    fn le(value: f64) -> Cond {
        Cond::Le {
            attr: "rh".into(),
            value,
        }
    }

    /// DynamoDB cannot hold 1e-9's neighbours below 1e-130, and plain
    /// decimals of tiny numbers run past its 38 digits: such bounds are
    /// pushed widened (the exact test stays in Rust).
    #[test]
    fn tiny_bounds_are_widened_outward() {
        assert_eq!(
            bounds(json!({"start": 1e-9, "end": 1e-9})),
            Cond::And(vec![ge(0.0), le(1.0)])
        );
        assert_eq!(
            bounds(json!({"start": -1e-200, "end": -1e-9})),
            Cond::And(vec![ge(-1.0), le(0.0)])
        );
        assert_eq!(
            bounds(json!({"start": 0.5, "end": 1e15})),
            Cond::And(vec![ge(0.5), le(1e15)])
        );
    }
}
