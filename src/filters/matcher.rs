//! Term lists compiled once so that evaluating a lead costs about the same
//! whatever the number of terms: `SMART` (substring) terms of a list in one
//! Aho-Corasick automaton, `STRICT` and list terms in a hash map, `WORD`
//! terms and location terms in an index from word (component) to the terms
//! holding it.
//!
//! Each compiled list reports how many of its distinct terms hit a lead;
//! [`Lists::eval`] combines the four `any`/`all` × `include`/`exclude` lists
//! exactly as "a term hits" is combined in the spec: `any include` needs one
//! hit, `all include` every term, `any exclude` none, `all exclude` not all.

/// The maps and sets of this module hash a lead's values for every lead a
/// bulk export re-checks: foldhash (randomly seeded, as the standard
/// SipHash, and several times faster on short keys) instead of SipHash.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use super::normalize::words;
use super::terms::{Mode, Parts, TextTerm};
use crate::model::Text;

/// Identifies a distinct term within one list.
type Id = u32;

/// The ids of the distinct terms of one list that hit a lead.
type Hits = HashSet<Id>;

/// A compiled list: how many distinct terms it holds.
pub(crate) trait TermList {
    /// The number of distinct terms.
    fn len(&self) -> usize;
}

/// The four compiled lists of a filter.
#[derive(Debug, Clone)]
pub(crate) struct Lists<M> {
    any_include: M,
    all_include: M,
    any_exclude: M,
    all_exclude: M,
}

impl<M: TermList> Lists<M> {
    /// Compiles each list of `parts` with `build`.
    pub(crate) fn new<T>(parts: &Parts<T>, build: impl Fn(&[T]) -> M) -> Self {
        Lists {
            any_include: build(&parts.any_include),
            all_include: build(&parts.all_include),
            any_exclude: build(&parts.any_exclude),
            all_exclude: build(&parts.all_exclude),
        }
    }

    /// [`new`](Self::new) with a fallible `build`.
    pub(crate) fn try_new<T, E>(
        parts: &Parts<T>,
        build: impl Fn(&[T]) -> Result<M, E>,
    ) -> Result<Self, E> {
        Ok(Lists {
            any_include: build(&parts.any_include)?,
            all_include: build(&parts.all_include)?,
            any_exclude: build(&parts.any_exclude)?,
            all_exclude: build(&parts.all_exclude)?,
        })
    }

    /// Combines the lists given `hits(list)`, the number of distinct terms
    /// of `list` that hit the lead; empty lists impose nothing.
    pub(crate) fn eval(&self, hits: impl Fn(&M) -> usize) -> bool {
        let nonempty = |m: &M| m.len() > 0;
        (!nonempty(&self.any_include) || hits(&self.any_include) > 0)
            && (!nonempty(&self.all_include) || hits(&self.all_include) == self.all_include.len())
            && (!nonempty(&self.any_exclude) || hits(&self.any_exclude) == 0)
            && (!nonempty(&self.all_exclude) || hits(&self.all_exclude) < self.all_exclude.len())
    }
}

/// Distinct ids for terms, keyed by what makes two terms the same.
struct Ids<K> {
    by_key: HashMap<K, Id>,
}

impl<K: std::hash::Hash + Eq> Ids<K> {
    fn new() -> Self {
        Ids {
            by_key: HashMap::default(),
        }
    }

    /// The id of `key`, and whether it is new.
    fn get(&mut self, key: K) -> (Id, bool) {
        let next = self.by_key.len() as Id;
        match self.by_key.entry(key) {
            std::collections::hash_map::Entry::Occupied(e) => (*e.get(), false),
            std::collections::hash_map::Entry::Vacant(e) => (*e.insert(next), true),
        }
    }

    fn len(&self) -> usize {
        self.by_key.len()
    }
}

/// Terms that hit a set of keys when all of their keys are in it.
#[derive(Debug, Clone, Default)]
struct SubsetIndex {
    /// Key → ids of the terms holding it.
    postings: HashMap<String, Vec<Id>>,
    /// Id → number of distinct keys of that term (0 for ids not indexed).
    need: Vec<u32>,
}

impl SubsetIndex {
    /// Indexes term `id` with its keys (at least one).
    fn add<'a>(&mut self, id: Id, keys: impl IntoIterator<Item = &'a str>) {
        let keys: HashSet<&str> = keys.into_iter().collect();
        let slot = id as usize;
        if self.need.len() <= slot {
            self.need.resize(slot + 1, 0);
        }
        self.need[slot] = keys.len() as u32;
        for k in keys {
            self.postings.entry(k.to_string()).or_default().push(id);
        }
    }

    fn is_empty(&self) -> bool {
        self.postings.is_empty()
    }

    /// Adds to `hits` the terms whose keys all are in `keys` (distinct).
    fn collect<'a>(&self, keys: impl IntoIterator<Item = &'a str>, hits: &mut Hits) {
        let mut counts: HashMap<Id, u32> = HashMap::default();
        for k in keys {
            for &id in self.postings.get(k).into_iter().flatten() {
                // A term of one key hits on it (the keys are distinct): no
                // count (the usual location term, one component).
                if self.need[id as usize] == 1 {
                    hits.insert(id);
                    continue;
                }
                let count = counts.entry(id).or_default();
                *count += 1;
                if *count == self.need[id as usize] {
                    hits.insert(id);
                }
            }
        }
    }
}

/// A list of exact terms (list filters): a term hits when it equals a value.
#[derive(Debug, Clone)]
pub(crate) struct ExactList {
    ids: HashMap<String, Id>,
}

impl ExactList {
    pub(crate) fn new(terms: &[String]) -> Self {
        let mut ids = Ids::new();
        for t in terms {
            ids.get(t.clone());
        }
        ExactList { ids: ids.by_key }
    }

    /// The number of distinct terms equal to one of `values`.
    pub(crate) fn hits(&self, values: &[Text]) -> usize {
        let hits: Hits = values
            .iter()
            .filter_map(|v| self.ids.get(v.as_str()))
            .copied()
            .collect();
        hits.len()
    }
}

impl TermList for ExactList {
    fn len(&self) -> usize {
        self.ids.len()
    }
}

/// A list of location terms: a term (its components) hits when every
/// component is one of the lead's location parts; a term without
/// components never hits.
#[derive(Debug, Clone)]
pub(crate) struct SubsetList {
    len: usize,
    index: SubsetIndex,
}

impl SubsetList {
    pub(crate) fn new(terms: &[Vec<String>]) -> Self {
        let mut ids = Ids::new();
        let mut index = SubsetIndex::default();
        for t in terms {
            let mut key: Vec<&str> = t.iter().map(String::as_str).collect();
            key.sort_unstable();
            key.dedup();
            let empty = key.is_empty();
            let (id, new) = ids.get(key.join(","));
            if new && !empty {
                index.add(id, t.iter().map(String::as_str));
            }
        }
        SubsetList {
            len: ids.len(),
            index,
        }
    }

    /// The number of distinct terms all of whose components are in `parts`.
    pub(crate) fn hits(&self, parts: &[Text]) -> usize {
        let parts: HashSet<&str> = parts.iter().map(Text::as_str).collect();
        let mut hits = Hits::default();
        self.index.collect(parts, &mut hits);
        hits.len()
    }
}

impl TermList for SubsetList {
    fn len(&self) -> usize {
        self.len
    }
}

/// A list of text terms of any modes.
#[derive(Debug, Clone)]
pub(crate) struct TextList {
    len: usize,
    /// Terms that hit any non-empty list of values: `SMART ""` and `WORD`
    /// terms without words.
    always: Vec<Id>,
    /// The non-empty `SMART` terms, and the id of each pattern.
    smart: Option<(AhoCorasick, Vec<Id>)>,
    /// `STRICT` terms by text.
    strict: HashMap<String, Id>,
    /// `WORD` terms by word.
    words: SubsetIndex,
}

impl TextList {
    /// Compiles a list; the error is a message for the list's path.
    pub(crate) fn new(terms: &[TextTerm]) -> Result<Self, String> {
        let mut ids = Ids::new();
        let mut always = Vec::new();
        let mut patterns: Vec<&str> = Vec::new();
        let mut pattern_ids = Vec::new();
        let mut strict = HashMap::default();
        let mut words = SubsetIndex::default();
        for t in terms {
            let (id, new) = ids.get((t.mode, t.text.as_str()));
            if !new {
                continue;
            }
            match t.mode {
                Mode::Smart if t.text.is_empty() => always.push(id),
                Mode::Word if t.words.is_empty() => always.push(id),
                Mode::Smart => {
                    patterns.push(&t.text);
                    pattern_ids.push(id);
                }
                Mode::Strict => {
                    strict.insert(t.text.clone(), id);
                }
                Mode::Word => words.add(id, t.words.iter().map(String::as_str)),
            }
        }
        let smart = if patterns.is_empty() {
            None
        } else {
            // A contiguous NFA: linear to build and to search. (The default
            // builds a DFA for up to 100 patterns, whose construction grows
            // with states x alphabet: slow for long terms.)
            let automaton = AhoCorasick::builder()
                .kind(Some(AhoCorasickKind::ContiguousNFA))
                .match_kind(MatchKind::Standard)
                .build(&patterns)
                .map_err(|e| format!("terms too large to compile ({e})"))?;
            Some((automaton, pattern_ids))
        };
        Ok(TextList {
            len: ids.len(),
            always,
            smart,
            strict,
            words,
        })
    }

    /// The number of distinct terms that hit one of `values` (normalized,
    /// non-empty): `SMART` a substring of a value, `STRICT` equal to a
    /// value, `WORD` every word a whole word of one value.
    pub(crate) fn hits(&self, values: &[Text]) -> usize {
        if values.is_empty() || self.len == 0 {
            return 0;
        }
        let mut hits: Hits = self.always.iter().copied().collect();
        for v in values {
            if hits.len() == self.len {
                break;
            }
            if let Some((automaton, ids)) = &self.smart {
                for m in automaton.find_overlapping_iter(v.as_str()) {
                    hits.insert(ids[m.pattern().as_usize()]);
                }
            }
            if let Some(&id) = self.strict.get(v.as_str()) {
                hits.insert(id);
            }
            if !self.words.is_empty() {
                let value_words: HashSet<&str> = words(v).collect();
                self.words.collect(value_words, &mut hits);
            }
        }
        hits.len()
    }
}

impl TermList for TextList {
    fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::filters::normalize::{location_components, norm};

    /// The straightforward definitions, term by term.
    fn naive_text_hit(t: &TextTerm, values: &[Text]) -> bool {
        match t.mode {
            Mode::Smart => values.iter().any(|v| v.contains(t.text.as_str())),
            Mode::Strict => values.iter().any(|v| *v == t.text),
            Mode::Word => values.iter().any(|v| {
                let vw: Vec<&str> = words(v).collect();
                t.words.iter().all(|w| vw.contains(&w.as_str()))
            }),
        }
    }

    fn naive_location_hit(t: &[String], parts: &[Text]) -> bool {
        !t.is_empty() && t.iter().all(|c| parts.iter().any(|p| p == c))
    }

    fn naive_eval<T>(parts: &Parts<T>, hit: impl Fn(&T) -> bool) -> bool {
        (parts.any_include.is_empty() || parts.any_include.iter().any(&hit))
            && parts.all_include.iter().all(&hit)
            && !parts.any_exclude.iter().any(&hit)
            && (parts.all_exclude.is_empty() || !parts.all_exclude.iter().all(&hit))
    }

    /// Short strings over a small alphabet, so that terms often hit.
    fn text() -> BoxedStrategy<String> {
        proptest::string::string_regex("[ab ,.-]{0,6}")
            .expect("regex")
            .boxed()
    }

    fn text_term() -> BoxedStrategy<TextTerm> {
        let mode = proptest::sample::select(&[Mode::Smart, Mode::Word, Mode::Strict][..]);
        (mode, text())
            .prop_map(|(mode, s)| TextTerm::new(mode, norm(&s).into_string()))
            .boxed()
    }

    fn parts_of<T: std::fmt::Debug + 'static>(
        term: BoxedStrategy<T>,
    ) -> impl Strategy<Value = Parts<T>> {
        let list = move || proptest::collection::vec(term.clone(), 0..5);
        (list(), list(), list(), list()).prop_map(|(a, b, c, d)| Parts {
            any_include: a,
            all_include: b,
            any_exclude: c,
            all_exclude: d,
        })
    }

    /// Lead values as `text_values` gives them: normalized and non-empty.
    fn values() -> impl Strategy<Value = Vec<Text>> {
        proptest::collection::vec(text(), 0..4).prop_map(|vs| {
            vs.iter()
                .map(|v| norm(v))
                .filter(|v| !v.is_empty())
                .collect()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]

        /// The automaton, hash and index evaluation equals the term-by-term one.
        #[test]
        fn text_lists_equal_the_naive_evaluation(parts in parts_of(text_term()), values in values()) {
            let lists = Lists::try_new(&parts, TextList::new).expect("compiles");
            prop_assert_eq!(
                lists.eval(|m| m.hits(&values)),
                naive_eval(&parts, |t| naive_text_hit(t, &values)),
                "parts {:?} values {:?}", parts, values
            );
        }

        #[test]
        fn location_lists_equal_the_naive_evaluation(
            parts in parts_of(text().prop_map(|s| location_components(&s).map(Text::into_string).collect::<Vec<_>>()).boxed()),
            lead in proptest::collection::vec(text(), 0..4),
        ) {
            let lead: Vec<Text> = lead.iter().flat_map(|p| location_components(p)).collect();
            let lists = Lists::new(&parts, SubsetList::new);
            prop_assert_eq!(
                lists.eval(|m| m.hits(&lead)),
                naive_eval(&parts, |t| naive_location_hit(t, &lead)),
                "parts {:?} lead {:?}", parts, lead
            );
        }

        #[test]
        fn exact_lists_equal_the_naive_evaluation(parts in parts_of(text().prop_map(|s| norm(&s).into_string()).boxed()), values in values()) {
            let lists = Lists::new(&parts, ExactList::new);
            prop_assert_eq!(
                lists.eval(|m| m.hits(&values)),
                naive_eval(&parts, |t| values.iter().any(|v| v == t)),
                "parts {:?} values {:?}", parts, values
            );
        }
    }

    #[test]
    fn all_include_needs_every_term_even_overlapping_ones() {
        let terms: Vec<TextTerm> = ["eng", "engineer", "gin", "x"]
            .iter()
            .map(|t| TextTerm::new(Mode::Smart, t.to_string()))
            .collect();
        let list = TextList::new(&terms).expect("compiles");
        assert_eq!(list.hits(&["engineering".into()]), 3);
        assert_eq!(list.hits(&["engineering".into(), "x".into()]), 4);
        let words = TextList::new(&[
            TextTerm::new(Mode::Word, "head sales".into()),
            TextTerm::new(Mode::Word, "sales".into()),
        ])
        .expect("compiles");
        assert_eq!(words.hits(&["head of sales".into()]), 2);
        assert_eq!(
            words.hits(&["head of marketing".into(), "sales".into()]),
            1,
            "the words of one term must be in one value"
        );
    }

    #[test]
    fn duplicates_count_once() {
        let list = ExactList::new(&["a".into(), "a".into(), "b".into()]);
        assert_eq!(list.len(), 2);
        assert_eq!(list.hits(&["a".into(), "a".into()]), 1);
    }
}
