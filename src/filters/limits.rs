//! What one filter may ask for, and the shortening of echoed client strings.
//!
//! The limits keep the work of a request linear in its body and the
//! push-down valid for DynamoDB; they are checked while parsing, so an
//! oversized list or string is refused before anything is built from it.

use std::borrow::Cow;
use std::cell::Cell;

use serde_json::{json, Map, Value};

/// Most entries (strings) in one `include` or `exclude` list.
pub const MAX_LIST_TERMS: usize = 1_000;

/// Most terms in the whole filter. A list entry counts one; a location
/// string counts one per comma-separated component and a `WORD` term one per
/// word (at least one each).
pub const MAX_FILTER_TERMS: usize = 2_000;

/// Longest term, in characters after normalization (for a location, each
/// comma-separated component).
pub const MAX_TERM_CHARS: usize = 256;

/// Most spans in the `range` of one range filter.
pub const MAX_RANGES: usize = 20;

/// Largest magnitude of a range bound (`start`, `end`).
pub const MAX_RANGE_BOUND: f64 = 1e15;

/// Longest client-supplied string (a key, a mode, a range type) echoed in
/// an error message, in characters; longer ones are cut and end with `…`.
pub const MAX_ECHO_CHARS: usize = 100;

/// `s` cut to [`MAX_ECHO_CHARS`] characters (on a character boundary), with
/// `…` appended when cut; for echoing client input in messages and logs.
pub fn clip(s: &str) -> Cow<'_, str> {
    match s.char_indices().nth(MAX_ECHO_CHARS) {
        None => Cow::Borrowed(s),
        Some((end, _)) => Cow::Owned(format!("{}…", &s[..end])),
    }
}

// The checks below return the message only; the caller names the path.

/// Refuses a list of more than [`MAX_LIST_TERMS`] entries.
pub(crate) fn check_list_len(len: usize) -> Result<(), String> {
    if len > MAX_LIST_TERMS {
        return Err(format!(
            "at most {MAX_LIST_TERMS} terms are allowed in one list (got {len})"
        ));
    }
    Ok(())
}

/// Refuses a normalized term longer than [`MAX_TERM_CHARS`] characters.
pub(crate) fn check_term(term: &str) -> Result<(), String> {
    if term.len() > MAX_TERM_CHARS && term.chars().nth(MAX_TERM_CHARS).is_some() {
        return Err(format!(
            "a term may hold at most {MAX_TERM_CHARS} characters"
        ));
    }
    Ok(())
}

/// Refuses a range list of more than [`MAX_RANGES`] spans.
pub(crate) fn check_ranges(len: usize) -> Result<(), String> {
    if len > MAX_RANGES {
        return Err(format!(
            "at most {MAX_RANGES} ranges are allowed (got {len})"
        ));
    }
    Ok(())
}

/// Refuses a range bound beyond ±[`MAX_RANGE_BOUND`].
pub(crate) fn check_bound(x: f64) -> Result<(), String> {
    if !(-MAX_RANGE_BOUND..=MAX_RANGE_BOUND).contains(&x) {
        return Err("expected a number between -1e15 and 1e15".to_string());
    }
    Ok(())
}

/// The terms still allowed in the filter being parsed.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    used: Cell<usize>,
}

impl Budget {
    /// Counts `n` more terms, refusing once the filter holds more than
    /// [`MAX_FILTER_TERMS`].
    pub(crate) fn take(&self, n: usize) -> Result<(), String> {
        let used = self.used.get().saturating_add(n);
        self.used.set(used);
        if used > MAX_FILTER_TERMS {
            return Err(format!(
                "at most {MAX_FILTER_TERMS} terms are allowed in the whole filter \
                 (each part of a location and each word of a WORD term counts one)"
            ));
        }
        Ok(())
    }
}

/// The largest filter the limits allow, built so that no term hits a lead:
/// `MAX_FILTER_TERMS` terms of `MAX_TERM_CHARS` characters spread over the
/// `any` and `all` exclude lists of every text, list and location key (text
/// keys rotate through SMART, WORD with two words, and STRICT), and three
/// range filters of `MAX_RANGES` ranges whose first one is open-ended. For
/// benchmarks and tests.
pub fn largest_legal_filter() -> Value {
    // (section, path inside the section, kind): 0 list or location, 1.. text mode.
    let text = |path: &'static [&'static str]| (path, true);
    let plain = |path: &'static [&'static str]| (path, false);
    let keys: Vec<(&str, (&[&str], bool))> = vec![
        ("contact", text(&["fullName"])),
        ("contact", text(&["skill"])),
        ("contact", text(&["language"])),
        ("contact", text(&["certification"])),
        ("contact", text(&["education", "school"])),
        ("contact", text(&["education", "degree"])),
        ("contact", text(&["education", "fieldOfStudy"])),
        ("contact", text(&["experience", "current", "title"])),
        ("contact", text(&["experience", "current", "company"])),
        ("contact", text(&["experience", "previous", "title"])),
        ("contact", text(&["experience", "previous", "company"])),
        ("contact", text(&["experience", "any", "title"])),
        ("contact", text(&["experience", "any", "company"])),
        ("account", text(&["nameOrDomain"])),
        ("contact", plain(&["seniority"])),
        ("contact", plain(&["departmentAndFunction"])),
        ("contact", plain(&["location"])),
        ("account", plain(&["industry"])),
        ("account", plain(&["type"])),
        ("account", plain(&["location"])),
    ];
    const MODES: [&str; 3] = ["SMART", "WORD", "STRICT"];
    // One slot per (key, exclude list): its mode and its terms.
    let mut slots: Vec<(usize, &str, &str, Vec<String>)> = Vec::new();
    for (k, (_, (_, is_text))) in keys.iter().enumerate() {
        let mode = if *is_text { MODES[k % MODES.len()] } else { "" };
        for quantifier in ["any", "all"] {
            slots.push((k, quantifier, mode, Vec::new()));
        }
    }
    let term = |n: usize, words: bool| -> String {
        let head = format!("q{n}z");
        let mut s = head.clone();
        let mut letters = (b'a'..=b'y').cycle();
        while s.len() < MAX_TERM_CHARS {
            if words && s.len() == MAX_TERM_CHARS / 2 {
                s.push(' ');
            } else {
                s.push(char::from(letters.next().unwrap_or(b'a')));
            }
        }
        s
    };
    let mut left = MAX_FILTER_TERMS;
    let mut n = 0;
    while left > 0 {
        for (_, _, mode, terms) in slots.iter_mut() {
            let cost = if *mode == "WORD" { 2 } else { 1 };
            if cost <= left {
                terms.push(term(n, *mode == "WORD"));
                n += 1;
                left -= cost;
            }
        }
    }
    let mut root = Map::new();
    for (k, quantifier, mode, terms) in slots {
        let (section, (path, _)) = keys[k];
        let list = if mode.is_empty() {
            json!(terms)
        } else {
            json!({"mode": mode, "content": terms})
        };
        let mut node = root
            .entry(section)
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("object");
        for segment in path {
            node = node
                .entry(*segment)
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("object");
        }
        node.entry(quantifier)
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("object")
            .insert("exclude".into(), list);
    }
    let ranges: Vec<Value> = (0..MAX_RANGES)
        .map(|i| match i {
            0 => json!({"start": 0}),
            _ => json!({"start": i as f64 * 1e13, "end": (i + 1) as f64 * 1e13}),
        })
        .collect();
    let account = root
        .entry("account")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("object");
    for key in ["employeeSize", "revenue", "foundedYear"] {
        account.insert(key.into(), json!({"type": "RANGE", "range": ranges}));
    }
    Value::Object(root)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::error::ExportError;
    use crate::filters::compile;

    fn err(filter: Value) -> String {
        match compile(&filter) {
            Ok(_) => panic!("accepted: {}", clip(&filter.to_string())),
            Err(e) => e.to_string(),
        }
    }

    fn ok(filter: Value) {
        if let Err(e) = compile(&filter) {
            panic!("refused: {e}");
        }
    }

    fn skill(part: Value) -> Value {
        json!({"contact": {"skill": part}})
    }

    fn terms(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("t{i}")).collect()
    }

    #[test]
    fn clip_cuts_on_a_char_boundary() {
        assert_eq!(clip("short"), "short");
        let exact = "é".repeat(MAX_ECHO_CHARS);
        assert_eq!(clip(&exact), exact.as_str());
        let cut = clip(&"é".repeat(MAX_ECHO_CHARS + 1)).into_owned();
        assert_eq!(cut, format!("{}…", "é".repeat(MAX_ECHO_CHARS)));
    }

    #[test]
    fn one_list_holds_at_most_1000_terms() {
        ok(skill(json!({"any": {"include": terms(MAX_LIST_TERMS)}})));
        assert_eq!(
            err(skill(json!({"any": {"include": terms(MAX_LIST_TERMS + 1)}}))),
            "filters.contact.skill.any.include: at most 1000 terms are allowed in one list (got 1001)"
        );
        assert_eq!(
            err(skill(json!({"all": {"exclude": {"mode": "STRICT", "content": terms(1001)}}}))),
            "filters.contact.skill.all.exclude.content: at most 1000 terms are allowed in one list (got 1001)"
        );
        assert_eq!(
            err(json!({"account": {"industry": {"any": {"exclude": terms(1001)}}}})),
            "filters.account.industry.any.exclude: at most 1000 terms are allowed in one list (got 1001)"
        );
    }

    #[test]
    fn the_filter_holds_at_most_2000_terms() {
        let full = json!({"all": {"include": terms(1000)}, "any": {"include": terms(1000)}});
        ok(skill(full));
        // Object keys are read in order: all.include, then any.exclude, then
        // any.include, whose last term is the 2001st.
        let over = json!({
            "all": {"include": terms(1000)},
            "any": {"exclude": ["x"], "include": terms(1000)}
        });
        assert_eq!(
            err(skill(over)),
            "filters.contact.skill.any.include[999]: at most 2000 terms are allowed in the whole \
             filter (each part of a location and each word of a WORD term counts one)"
        );
        // Across keys and sections.
        let across = json!({
            "account": {"nameOrDomain": {"any": {"exclude": terms(1000)}}},
            "contact": {"seniority": {"any": {"include": terms(1000)}},
                        "skill": {"any": {"include": ["x"]}}}
        });
        assert!(err(across).starts_with("filters.contact.skill.any.include[0]: at most 2000 terms"));
    }

    #[test]
    fn location_components_and_words_count_as_terms() {
        let loc = |s: String| json!({"contact": {"location": {"any": {"include": [s]}}}});
        ok(loc(vec!["a"; MAX_FILTER_TERMS].join(",")));
        assert!(err(loc(vec!["a"; MAX_FILTER_TERMS + 1].join(",")))
            .starts_with("filters.contact.location.any.include[0]: at most 2000 terms"));
        // 125 WORD terms of 16 words: 2000 terms.
        let sixteen = |n: usize| -> Vec<String> {
            (0..n)
                .map(|i| {
                    (0..16)
                        .map(|w| format!("w{i}x{w}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect()
        };
        let word = |n| skill(json!({"all": {"include": {"mode": "WORD", "content": sixteen(n)}}}));
        ok(word(125));
        assert!(err(word(126))
            .starts_with("filters.contact.skill.all.include.content[125]: at most 2000 terms"));
        // The same strings as SMART terms count one each.
        ok(skill(
            json!({"all": {"include": {"mode": "SMART", "content": sixteen(126)}}}),
        ));
    }

    #[test]
    fn a_term_holds_at_most_256_characters_after_normalization() {
        let at = "x".repeat(MAX_TERM_CHARS);
        let over = "x".repeat(MAX_TERM_CHARS + 1);
        ok(skill(json!({"any": {"include": [format!("  {at}  ")]}})));
        ok(skill(
            json!({"any": {"include": ["É".repeat(MAX_TERM_CHARS)]}}),
        ));
        let message = "a term may hold at most 256 characters";
        assert_eq!(
            err(skill(json!({"any": {"include": ["ok", over]}}))),
            format!("filters.contact.skill.any.include[1]: {message}")
        );
        // NFKD expands "ﬁ" to "fi": 129 of them are 258 characters.
        assert_eq!(
            err(skill(json!({"any": {"exclude": ["ﬁ".repeat(129)]}}))),
            format!("filters.contact.skill.any.exclude[0]: {message}")
        );
        assert_eq!(
            err(json!({"contact": {"seniority": {"all": {"include": [over.clone()]}}}})),
            format!("filters.contact.seniority.all.include[0]: {message}")
        );
        // A location: each component.
        let loc = |s: String| json!({"account": {"location": {"any": {"include": [s]}}}});
        ok(loc(format!("{at},{at}")));
        assert_eq!(
            err(loc(format!("{at},{over}"))),
            format!("filters.account.location.any.include[0]: {message}")
        );
        // 900,000 characters are refused, not sent to DynamoDB.
        assert_eq!(
            err(skill(
                json!({"any": {"include": {"mode": "STRICT", "content": ["y".repeat(900_000)]}}})
            )),
            format!("filters.contact.skill.any.include.content[0]: {message}")
        );
    }

    #[test]
    fn a_range_filter_holds_at_most_20_finite_bounded_ranges() {
        let spans = |n: usize| -> Vec<Value> {
            (0..n)
                .map(|i| json!({"start": i * 10, "end": i * 10 + 5}))
                .collect()
        };
        let range = |r: Value| json!({"account": {"employeeSize": {"type": "RANGE", "range": r}}});
        ok(range(json!(spans(MAX_RANGES))));
        assert_eq!(
            err(range(json!(spans(MAX_RANGES + 1)))),
            "filters.account.employeeSize.range: at most 20 ranges are allowed (got 21)"
        );
        ok(range(json!({"start": -1e15, "end": 1e15})));
        let bound = "expected a number between -1e15 and 1e15";
        for (r, path) in [
            (json!({"start": 1e200}), "range.start"),
            (
                json!([{"start": 1}, {"end": -1.0000001e15}]),
                "range[1].end",
            ),
            (json!({"end": 1e15 + 1.0}), "range.end"),
        ] {
            assert_eq!(
                err(range(r)),
                format!("filters.account.employeeSize.{path}: {bound}")
            );
        }
    }

    #[test]
    fn echoed_client_strings_are_cut() {
        let key = "k".repeat(100_000);
        let shown = format!("{}…", "k".repeat(MAX_ECHO_CHARS));
        let mut contact = serde_json::Map::new();
        contact.insert(key.clone(), json!({}));
        assert_eq!(
            err(json!({ "contact": contact })),
            format!("filters.contact.{shown}: unknown filter")
        );
        let mut root = serde_json::Map::new();
        root.insert(key.clone(), json!({}));
        assert_eq!(
            err(Value::Object(root)),
            format!("filters.{shown}: unknown section (expected contact, account)")
        );
        let mut part = serde_json::Map::new();
        part.insert(key.clone(), json!([]));
        assert_eq!(
            err(skill(json!({ "any": part }))),
            format!("filters.contact.skill.any.{shown}: unknown key (expected include, exclude)")
        );
        assert_eq!(
            err(skill(json!({"any": {"include": {"mode": key.clone()}}}))),
            format!(
                "filters.contact.skill.any.include.mode: unknown mode {shown:?} \
                 (expected SMART, WORD or STRICT)"
            )
        );
        assert_eq!(
            err(json!({"account": {"revenue": {"type": key.clone()}}})),
            format!(
                "filters.account.revenue.type: unknown range type {shown:?} \
                 (expected RANGE, ALL or NONE)"
            )
        );
        let mut experience = serde_json::Map::new();
        experience.insert(key, json!({}));
        let e = err(json!({"contact": {"experience": experience}}));
        assert!(e.len() < 300, "{e}");
    }

    fn request_error(filter: Value) -> String {
        let body = json!({"selection": {"mode": "bulk", "targetCount": 10, "filters": filter}});
        match crate::request::parse(body.to_string().as_bytes()) {
            Err(ExportError::Validation(m)) => m,
            Err(e) => panic!("not a validation error: {e}"),
            Ok(_) => panic!("accepted"),
        }
    }

    /// The requests that used to run for minutes answer a validation error.
    #[test]
    fn forty_kilobyte_strings_are_validation_errors() {
        let commas = vec!["a"; 20_000].join(",");
        let m = request_error(json!({"contact": {"location": {"any": {"include": [commas]}}}}));
        assert!(
            m.starts_with("filters.contact.location.any.include[0]: at most 2000 terms"),
            "{m}"
        );
        let spaces = vec!["a"; 20_000].join(" ");
        let m = request_error(skill(
            json!({"all": {"include": {"mode": "WORD", "content": [spaces]}}}),
        ));
        assert_eq!(
            m,
            "filters.contact.skill.all.include.content[0]: a term may hold at most 256 characters"
        );
        let m = request_error(skill(json!({"all": {"include": terms(8_000)}})));
        assert_eq!(
            m,
            "filters.contact.skill.all.include: at most 1000 terms are allowed in one list (got 8000)"
        );
    }
}
