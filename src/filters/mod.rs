//! PLACEHOLDER until the real filter engine lands: only `{}` is accepted.
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq)]
pub struct FilterError {
    pub path: String,
    pub message: String,
}
impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}
impl std::error::Error for FilterError {}

#[derive(Debug, Clone)]
pub struct CompiledFilter;
pub const SEARCH_VERSION_ATTR: &str = "s_v";
pub const SEARCH_VERSION: i64 = 1;
pub type SearchAttrs = BTreeMap<String, SearchValue>;
#[derive(Debug, Clone, PartialEq)]
pub enum SearchValue {
    Str(String),
    StrSet(BTreeSet<String>),
    Num(f64),
}
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    True,
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Contains { attr: String, value: String },
    EqStr { attr: String, value: String },
    Le { attr: String, value: f64 },
    Ge { attr: String, value: f64 },
    Exists(String),
    NotExists(String),
}
impl Cond {
    pub fn simplify(self) -> Cond {
        self
    }
    pub fn eval(&self, _a: &SearchAttrs) -> bool {
        true
    }
}
pub fn compile(value: &serde_json::Value) -> Result<CompiledFilter, FilterError> {
    let obj = value.as_object().ok_or(FilterError {
        path: "filters".into(),
        message: "expected an object".into(),
    })?;
    for (section, v) in obj {
        let inner = v.as_object().ok_or(FilterError {
            path: format!("filters.{section}"),
            message: "expected an object".into(),
        })?;
        if let Some(k) = inner.keys().next() {
            return Err(FilterError {
                path: format!("filters.{section}.{k}"),
                message: "unknown filter".into(),
            });
        }
    }
    Ok(CompiledFilter)
}
impl CompiledFilter {
    pub fn matches(&self, _lead: &crate::model::Lead) -> bool {
        true
    }
    pub fn is_empty(&self) -> bool {
        true
    }
    pub fn lead_attributes(&self) -> BTreeSet<&'static str> {
        BTreeSet::new()
    }
    pub fn pushdown(&self) -> Cond {
        Cond::True
    }
}
pub fn search_attributes(_lead: &crate::model::Lead) -> SearchAttrs {
    let mut m = SearchAttrs::new();
    m.insert(
        SEARCH_VERSION_ATTR.into(),
        SearchValue::Num(SEARCH_VERSION as f64),
    );
    m
}
