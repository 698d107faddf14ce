//! People Search filters (the rules are described in `docs/filters.md`).
//!
//! [`compile`] parses the request's `filters` JSON once into a
//! [`CompiledFilter`], rejecting anything it does not understand with a
//! [`FilterError`] that names the offending path (never a silent widening).
//! Terms are normalized and canonicalized at compile time;
//! [`CompiledFilter::matches`] is the exact predicate on a [`Lead`].
//!
//! For the store, [`search_attributes`] computes normalized search attributes
//! that the import tool writes beside each lead, and
//! [`CompiledFilter::pushdown`] turns the filter into a [`Cond`] over them: a
//! sound over-approximation of `matches` (exact for list, location,
//! seniority, type, industry, range and `STRICT` filters) that the main crate
//! renders as a DynamoDB `FilterExpression`. `matches` stays the single
//! source of truth and is applied to every item the store returns.
//!
//! Choices where the spec is silent:
//! - a value that normalizes to the empty string counts as no value;
//! - `null` for `filters` itself counts as `{}`;
//! - unknown keys inside a filter object (`"anyy"`) are errors, like unknown filters;
//! - `"range": []` imposes no constraint (an empty list); a `range` given with
//!   `ALL` or `NONE` is still validated, then ignored;
//! - `mode` and range `type` are read case-insensitively;
//! - a location term with no non-empty component, and a `STRICT` or list term
//!   that normalizes to `""`, match nothing.
//!
//! What one filter may ask for is bounded ([`MAX_LIST_TERMS`],
//! [`MAX_FILTER_TERMS`], [`MAX_TERM_CHARS`], [`MAX_RANGES`],
//! [`MAX_RANGE_BOUND`]), checked while parsing; each list of terms is
//! compiled once (an Aho-Corasick automaton, hash maps, a word index), so
//! evaluating a lead does not loop over the terms.

mod compile;
mod cond;
mod limits;
mod matcher;
mod normalize;
mod parse;
mod pushdown;
mod ranges;
mod search_attrs;
mod terms;
mod values;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::model::Lead;

pub use limits::{
    clip, largest_legal_filter, MAX_ECHO_CHARS, MAX_FILTER_TERMS, MAX_LIST_TERMS, MAX_RANGES,
    MAX_RANGE_BOUND, MAX_TERM_CHARS,
};
pub use search_attrs::{search_attributes, search_attributes_v1};

/// A filter that does not parse: `path` like
/// `"filters.account.employeeSize.range[1].start"`, `message` like
/// `"expected a number"`. Displays as `"{path}: {message}"`.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterError {
    /// Where in the request the problem is, from the root `filters`.
    pub path: String,
    /// What is wrong there.
    pub message: String,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl std::error::Error for FilterError {}

/// Parses and compiles the `filters` JSON value (root path `"filters"`).
/// `{}` (or `null`) matches every lead.
pub fn compile(value: &serde_json::Value) -> Result<CompiledFilter, FilterError> {
    Ok(CompiledFilter {
        clauses: parse::parse(value)?,
    })
}

/// A compiled filter: an AND of per-key clauses with pre-normalized terms.
#[derive(Debug, Clone)]
pub struct CompiledFilter {
    clauses: Vec<compile::Clause>,
}

impl CompiledFilter {
    /// The exact predicate: the single source of truth for which leads match.
    pub fn matches(&self, lead: &Lead) -> bool {
        self.clauses.iter().all(|c| c.matches(lead))
    }

    /// True when the filter imposes no constraint at all (e.g. `{}`).
    pub fn is_empty(&self) -> bool {
        self.clauses.is_empty()
    }

    /// The top-level lead attributes (camelCase, as stored) that
    /// [`matches`](Self::matches) reads; a lead holding only these gives the
    /// same answer as the full lead.
    pub fn lead_attributes(&self) -> BTreeSet<&'static str> {
        self.clauses
            .iter()
            .flat_map(|c| c.lead_attributes().iter().copied())
            .collect()
    }

    /// A condition over [`search_attributes`] implied by `matches`: for every
    /// lead `l`, `matches(l)` ⇒ `pushdown().eval(&search_attributes(&l))`.
    /// Simplified; [`Cond::True`] when nothing useful can be pushed.
    pub fn pushdown(&self) -> Cond {
        self.pushdown_unsimplified().simplify()
    }

    /// [`pushdown`](Self::pushdown) before simplification: one conjunct
    /// per clause, as each clause pushes itself down; it means the same as
    /// `pushdown()` (for every set of search attributes, both `eval` alike).
    pub fn pushdown_unsimplified(&self) -> Cond {
        Cond::And(self.clauses.iter().map(|c| c.pushdown().0).collect())
    }

    /// True when [`pushdown`](Self::pushdown) is exact: for every lead `l`,
    /// `matches(l)` ⇔ `pushdown().eval(&search_attributes(&l))`. Then an
    /// item with current search attributes that passes the rendered
    /// condition (all of it) is a match without reading the lead. True for
    /// list, location, range (bounds DynamoDB can hold) and `STRICT` text
    /// filters, `SMART` terms without U+001F or U+001E, and excludes of those; false
    /// for `WORD` terms.
    pub fn pushdown_exact(&self) -> bool {
        self.clauses.iter().all(|c| c.pushdown().1)
    }
}

/// Attribute holding [`SEARCH_VERSION`]: which version of
/// [`search_attributes`] wrote an item's `s_*` attributes.
pub const SEARCH_VERSION_ATTR: &str = "s_v";
/// The current version of the search attributes.
pub const SEARCH_VERSION: i64 = 2;

/// Normalized search attributes of one lead, by attribute name.
pub type SearchAttrs = BTreeMap<String, SearchValue>;

/// A search attribute value, as stored in DynamoDB.
#[derive(Debug, Clone, PartialEq)]
pub enum SearchValue {
    /// A string (`S`).
    Str(String),
    /// A string set (`SS`); never empty (the attribute is omitted instead).
    StrSet(BTreeSet<String>),
    /// A number (`N`).
    Num(f64),
}

/// The push-down IR, with DynamoDB's semantics; the main crate renders it as a
/// `FilterExpression`. `And(vec![])` is true and `Or(vec![])` is false;
/// after [`simplify`](Cond::simplify) an empty `Or` can only be the whole
/// condition (nothing can match).
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// Always true.
    True,
    /// All of.
    And(Vec<Cond>),
    /// Any of.
    Or(Vec<Cond>),
    /// Negation.
    Not(Box<Cond>),
    /// `contains(attr, value)`: membership for a string set, substring for a
    /// string; false if the attribute is missing or a number.
    Contains {
        /// The attribute.
        attr: String,
        /// The value looked for.
        value: String,
    },
    /// `attr = value` for a string; false if missing.
    EqStr {
        /// The attribute.
        attr: String,
        /// The value it equals.
        value: String,
    },
    /// `attr <= value` for a number; false if missing.
    Le {
        /// The attribute.
        attr: String,
        /// The bound.
        value: f64,
    },
    /// `attr >= value` for a number; false if missing.
    Ge {
        /// The attribute.
        attr: String,
        /// The bound.
        value: f64,
    },
    /// `attribute_exists(attr)`.
    Exists(String),
    /// `attribute_not_exists(attr)`.
    NotExists(String),
}

impl CompiledFilter {
    /// The identity of the filter's meaning, for the position checkpoints
    /// of `store::cursors`: a hex SHA-256 of the compiled clauses in a
    /// canonical order (each part's normalized terms sorted and deduplicated,
    /// the clauses sorted), [`SEARCH_VERSION`] and the crate's version (a
    /// release that changes what a filter matches must not use positions
    /// counted by the one before). Two bodies that compile to the same
    /// clauses (key order, spacing, case and accents that normalization
    /// folds, a default spelled out) share it.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        let mut clauses: Vec<String> = self.clauses.iter().map(|c| c.canonical()).collect();
        clauses.sort();
        clauses.dedup();
        let text = format!(
            "{SEARCH_VERSION_ATTR}={SEARCH_VERSION}\nrules={}\n{}",
            env!("CARGO_PKG_VERSION"),
            clauses.join("\n")
        );
        sha2::Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}
