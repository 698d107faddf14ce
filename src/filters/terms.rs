//! The shared vocabulary of compiling and matching: a text term and its
//! mode, and the four parts of a list or text filter. A leaf of `filters`:
//! `compile` builds these, `matcher` evaluates them.

/// How a text term matches a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
        let words = super::normalize::words(&text).map(str::to_string).collect();
        TextTerm { mode, text, words }
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
}
