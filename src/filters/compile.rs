//! The compiled form of a filter and the exact predicate on a lead.

use super::matcher::{ExactList, Lists, SubsetList, TextList};
use super::terms::{Parts, TextTerm};
use super::values::{
    list_attributes, list_values, location_parts, place_attributes, range_value, text_attributes,
    text_values, ListField, Place, RangeField, TextField,
};
use crate::model::Lead;

/// One inclusive range; `None` ends are unbounded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Span {
    pub start: Option<f64>,
    pub end: Option<f64>,
}

impl Span {
    fn contains(&self, (lo, hi): (f64, f64)) -> bool {
        self.start.is_none_or(|s| lo >= s) && self.end.is_none_or(|e| hi <= e)
    }
}

/// What a range filter requires.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RangeRule {
    /// A known value inside one of the spans (non-empty).
    Within(Vec<Span>),
    /// An unknown value (`NONE`).
    Unknown,
}

/// One filter key, compiled. A filter is the AND of its clauses; clauses that
/// impose nothing are never built. Each keeps its terms (for the push-down)
/// and their compiled lists (for `matches`).
#[derive(Debug, Clone)]
pub(crate) enum Clause {
    Text(TextField, Parts<TextTerm>, Box<Lists<TextList>>),
    /// Terms canonicalized like the field's values.
    List(ListField, Parts<String>, Box<Lists<ExactList>>),
    /// Terms as their normalized comma-separated components.
    Location(Place, Parts<Vec<String>>, Box<Lists<SubsetList>>),
    Range(RangeField, RangeRule),
}

impl Clause {
    pub(crate) fn matches(&self, lead: &Lead) -> bool {
        match self {
            Clause::Text(field, _, lists) => {
                let values = text_values(*field, lead);
                lists.eval(|l| l.hits(&values))
            }
            Clause::List(field, _, lists) => {
                let values = list_values(*field, lead);
                lists.eval(|l| l.hits(&values))
            }
            Clause::Location(place, _, lists) => {
                let lead_parts = location_parts(*place, lead);
                lists.eval(|l| l.hits(&lead_parts))
            }
            Clause::Range(field, rule) => match (rule, range_value(*field, lead)) {
                (RangeRule::Unknown, value) => value.is_none(),
                (RangeRule::Within(spans), Some(value)) => spans.iter().any(|s| s.contains(value)),
                (RangeRule::Within(_), None) => false,
            },
        }
    }

    /// The clause as text that does not depend on how the request spelled
    /// it: the field, and each part's terms (their normalized form) sorted
    /// and deduplicated, or the range rule with its spans sorted. The
    /// compiled lists are built from the terms and are left out.
    pub(crate) fn canonical(&self) -> String {
        fn parts<T: std::fmt::Debug>(p: &Parts<T>) -> String {
            let set = |terms: &[T]| {
                let mut v: Vec<String> = terms.iter().map(|t| format!("{t:?}")).collect();
                v.sort();
                v.dedup();
                v.join(",")
            };
            format!(
                "any+[{}] all+[{}] any-[{}] all-[{}]",
                set(&p.any_include),
                set(&p.all_include),
                set(&p.any_exclude),
                set(&p.all_exclude)
            )
        }
        match self {
            Clause::Text(field, p, _) => format!("text {field:?} {}", parts(p)),
            Clause::List(field, p, _) => format!("list {field:?} {}", parts(p)),
            Clause::Location(place, p, _) => format!("location {place:?} {}", parts(p)),
            Clause::Range(field, RangeRule::Unknown) => format!("range {field:?} unknown"),
            Clause::Range(field, RangeRule::Within(spans)) => {
                let mut v: Vec<String> = spans.iter().map(|s| format!("{s:?}")).collect();
                v.sort();
                v.dedup();
                format!("range {field:?} within [{}]", v.join(","))
            }
        }
    }

    pub(crate) fn lead_attributes(&self) -> &'static [&'static str] {
        match self {
            Clause::Text(field, ..) => text_attributes(*field),
            Clause::List(field, ..) => list_attributes(*field),
            Clause::Location(place, ..) => place_attributes(*place),
            Clause::Range(..) => &["company"],
        }
    }
}
