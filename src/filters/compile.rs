//! The compiled form of a filter and the exact predicate on a lead.

use super::normalize::words;
use super::values::{
    list_attributes, list_values, location_parts, place_attributes, range_value, text_attributes,
    text_values, ListField, Place, RangeField, TextField,
};
use crate::model::Lead;

/// How a text term matches a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The term is a substring of the value.
    Smart,
    /// Every word of the term is a whole word of the value.
    Word,
    /// The term equals the value.
    Strict,
}

/// A normalized text term.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TextTerm {
    pub mode: Mode,
    /// Normalized (and, for `nameOrDomain`, reduced to a bare host when it
    /// looks like a domain).
    pub text: String,
    /// The words of `text` (used by `Word`).
    pub words: Vec<String>,
}

impl TextTerm {
    pub(crate) fn new(mode: Mode, text: String) -> Self {
        let words = words(&text).map(str::to_string).collect();
        TextTerm { mode, text, words }
    }

    fn hits(&self, values: &[String], value_words: &[Vec<&str>]) -> bool {
        match self.mode {
            Mode::Smart => values.iter().any(|v| v.contains(self.text.as_str())),
            Mode::Strict => values.contains(&self.text),
            Mode::Word => value_words
                .iter()
                .any(|vw| self.words.iter().all(|w| vw.contains(&w.as_str()))),
        }
    }
}

/// The four parts of a list or text filter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Parts<T> {
    pub any_include: Vec<T>,
    pub all_include: Vec<T>,
    pub any_exclude: Vec<T>,
    pub all_exclude: Vec<T>,
}

impl<T> Default for Parts<T> {
    fn default() -> Self {
        Parts {
            any_include: Vec::new(),
            all_include: Vec::new(),
            any_exclude: Vec::new(),
            all_exclude: Vec::new(),
        }
    }
}

impl<T> Parts<T> {
    pub(crate) fn is_empty(&self) -> bool {
        self.any_include.is_empty()
            && self.all_include.is_empty()
            && self.any_exclude.is_empty()
            && self.all_exclude.is_empty()
    }

    pub(crate) fn terms(&self) -> impl Iterator<Item = &T> {
        self.any_include
            .iter()
            .chain(&self.all_include)
            .chain(&self.any_exclude)
            .chain(&self.all_exclude)
    }

    /// Combines the parts given "term hits the lead's values".
    pub(crate) fn eval(&self, hits: impl Fn(&T) -> bool) -> bool {
        (self.any_include.is_empty() || self.any_include.iter().any(&hits))
            && self.all_include.iter().all(&hits)
            && !self.any_exclude.iter().any(&hits)
            && (self.all_exclude.is_empty() || !self.all_exclude.iter().all(&hits))
    }
}

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
/// impose nothing are never built.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Clause {
    Text(TextField, Parts<TextTerm>),
    /// Terms canonicalized like the field's values.
    List(ListField, Parts<String>),
    /// Terms as their normalized comma-separated components.
    Location(Place, Parts<Vec<String>>),
    Range(RangeField, RangeRule),
}

impl Clause {
    pub(crate) fn matches(&self, lead: &Lead) -> bool {
        match self {
            Clause::Text(field, parts) => {
                let values = text_values(*field, lead);
                let value_words: Vec<Vec<&str>> = if parts.terms().any(|t| t.mode == Mode::Word) {
                    values.iter().map(|v| words(v).collect()).collect()
                } else {
                    Vec::new()
                };
                parts.eval(|t| t.hits(&values, &value_words))
            }
            Clause::List(field, parts) => {
                let values = list_values(*field, lead);
                parts.eval(|t| values.contains(t))
            }
            Clause::Location(place, parts) => {
                let lead_parts = location_parts(*place, lead);
                parts.eval(|components| {
                    !components.is_empty() && components.iter().all(|c| lead_parts.contains(c))
                })
            }
            Clause::Range(field, rule) => match (rule, range_value(*field, lead)) {
                (RangeRule::Unknown, value) => value.is_none(),
                (RangeRule::Within(spans), Some(value)) => spans.iter().any(|s| s.contains(value)),
                (RangeRule::Within(_), None) => false,
            },
        }
    }

    pub(crate) fn lead_attributes(&self) -> &'static [&'static str] {
        match self {
            Clause::Text(field, _) => text_attributes(*field),
            Clause::List(field, _) => list_attributes(*field),
            Clause::Location(place, _) => place_attributes(*place),
            Clause::Range(..) => &["company"],
        }
    }
}
