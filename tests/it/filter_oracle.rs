//! A brute-force evaluator of People Search filters, written from the rules
//! of `docs/filters.md`, the filter schemas' descriptions in `openapi.yaml`
//! and the search-attribute table of `docs/design.md`
//! (which lead fields each key reads), never from the crate's filter code:
//! it calls neither `filters::compile` nor `CompiledFilter::matches`. The
//! store differential test takes its expected ids from it.
//!
//! It loops over every term and every value (no automaton, no index). The
//! keys whose vocabulary the documents do not spell out are not evaluated
//! here: `seniority` and account `type` (canonical slugs and their
//! synonyms), `nameOrDomain` (bare hosts of URLs), `employeeSize` and
//! `revenue` (parsing of headcount and revenue bands); [`supported`] strips
//! them from a generated filter before it is used.
//!
//! The rules, as documented:
//! - a lead passes every key and every part (`any`/`all` ×
//!   `include`/`exclude`); `any.include`: some term matches; `all.include`:
//!   every term matches; `any.exclude`: no term matches; `all.exclude`: not
//!   every term matches; an absent or empty list imposes nothing;
//! - values and terms are normalized: NFKD, accents dropped, lowercase,
//!   runs of whitespace as one space, trimmed; a value that normalizes to
//!   `""` is no value;
//! - text terms: `SMART` (a plain array too) a substring of a value, `WORD`
//!   every word of the term a whole word of one value, `STRICT` equal to a
//!   value (a `SMART` or `WORD` term without words hits any lead with a
//!   value); list terms (departments, industry) equal to a value, with `_`
//!   and `-` as spaces for departments; a `STRICT` or list term that
//!   normalizes to `""` matches nothing;
//! - a location term is comma-separated parts, each of which must be one of
//!   the parts of the lead's (or its company's) city, state, state code,
//!   country or country code (a value is split at its commas too: the city
//!   `Washington, D.C.` has the parts `washington` and `d.c.`); a term with
//!   no non-empty part matches nothing;
//! - `experience.current` reads `jobTitle` (or the company's name) and the
//!   jobs whose end date is missing, null or blank; `previous` the jobs with
//!   an end date; `any` both;
//! - a range filter (`type` absent or `RANGE`) matches a value inside one of
//!   its ranges, bounds inclusive, an absent bound open; no ranges impose
//!   nothing, and a lead without the value fails; `ALL` imposes nothing,
//!   `NONE` keeps only leads without the value (`openapi.yaml`,
//!   `RangeFilter`).

use serde_json::{Map, Value};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use lead_export::model::Lead;

/// Keys the oracle does not evaluate (see the module comment).
const UNSUPPORTED: &[&str] = &[
    "seniority",
    "type",
    "nameOrDomain",
    "employeeSize",
    "revenue",
];

/// `filters` without the keys the oracle does not evaluate.
pub fn supported(filters: &Value) -> Value {
    let mut out = filters.clone();
    if let Value::Object(root) = &mut out {
        for section in root.values_mut() {
            if let Value::Object(keys) = section {
                keys.retain(|k, _| {
                    let bare = k.rsplit('.').next().unwrap_or(k);
                    !UNSUPPORTED.contains(&bare)
                });
            }
        }
    }
    out
}

/// Whether `lead` passes `filters` (valid filters JSON of supported keys;
/// panics on a shape the documents do not describe).
pub fn passes(filters: &Value, lead: &Lead) -> bool {
    let Some(root) = filters.as_object() else {
        return true; // null = {}
    };
    root.iter().all(|(section, keys)| {
        keys.as_object()
            .expect("a section is an object")
            .iter()
            .all(|(key, filter)| {
                let key = key.strip_prefix(&format!("{section}.")).unwrap_or(key);
                passes_key(section, key, filter, lead)
            })
    })
}

fn passes_key(section: &str, key: &str, filter: &Value, lead: &Lead) -> bool {
    let company = lead.company.as_ref();
    match (section, key) {
        ("contact", "fullName") => text(
            filter,
            &values([Some(format!("{} {}", lead.first_name, lead.last_name))]),
        ),
        ("contact", "location") => location(
            filter,
            &values([
                lead.city.clone(),
                lead.state.clone(),
                lead.state_code.clone(),
                lead.country.clone(),
                lead.country_code.clone(),
            ]),
        ),
        ("account", "location") => location(
            filter,
            &company
                .map(|c| {
                    values([
                        c.city.clone(),
                        c.state.clone(),
                        c.state_code.clone(),
                        c.country.clone(),
                        c.country_code.clone(),
                    ])
                })
                .unwrap_or_default(),
        ),
        ("contact", "departmentAndFunction") => {
            let all = [&lead.departments, &lead.sub_departments, &lead.functions]
                .into_iter()
                .flatten()
                .flatten()
                .map(|d| Some(spaced(d)));
            list(filter, &values(all), spaced)
        }
        ("contact", "skill") => text(filter, &values(opt_list(&lead.skills))),
        ("contact", "certification") => text(filter, &values(opt_list(&lead.certifications))),
        ("contact", "language") => text(
            filter,
            &values(lead.languages.iter().flatten().map(|l| l.language.clone())),
        ),
        ("contact", "education") => sub_filters(filter, |sub| {
            let educations = lead.educations.iter().flatten();
            match sub {
                "school" => {
                    values(educations.map(|e| e.institution.as_ref().and_then(|i| i.name.clone())))
                }
                "degree" => values(educations.map(|e| e.degree_name.clone())),
                "fieldOfStudy" => values(educations.map(|e| e.field_of_study.clone())),
                other => panic!("education.{other}"),
            }
        }),
        ("contact", "experience") => filter
            .as_object()
            .expect("experience is an object")
            .iter()
            .all(|(tense, by)| sub_filters(by, |what| experience(lead, tense, what == "title"))),
        ("account", "industry") => list(
            filter,
            &values([company.and_then(|c| c.industry.clone())]),
            norm,
        ),
        ("account", "foundedYear") => range(filter, company.and_then(|c| c.founded_year)),
        other => panic!("the oracle does not evaluate {other:?}"),
    }
}

/// Every sub-filter of an object (`education`, one tense of `experience`)
/// over the values `read` gives for its name.
fn sub_filters(filter: &Value, read: impl Fn(&str) -> Vec<String>) -> bool {
    filter
        .as_object()
        .expect("an object of sub-filters")
        .iter()
        .all(|(sub, f)| text(f, &read(sub)))
}

fn experience(lead: &Lead, tense: &str, title: bool) -> Vec<String> {
    let current = |end: Option<&str>| end.is_none_or(|e| e.trim().is_empty());
    let mut raw = Vec::new();
    for job in lead.work_experiences.iter().flatten() {
        let end = job.dates.as_ref().and_then(|d| d.end.as_deref());
        let wanted = match tense {
            "current" => current(end),
            "previous" => !current(end),
            "any" => true,
            other => panic!("experience.{other}"),
        };
        if wanted {
            raw.push(if title {
                job.title.clone()
            } else {
                job.company.as_ref().and_then(|c| c.name.clone())
            });
        }
    }
    if tense != "previous" {
        raw.push(if title {
            lead.job_title.clone()
        } else {
            lead.company.as_ref().and_then(|c| c.name.clone())
        });
    }
    values(raw)
}

fn opt_list(list: &Option<Vec<String>>) -> impl Iterator<Item = Option<String>> + '_ {
    list.iter().flatten().map(|s| Some(s.clone()))
}

/// The normalized, non-empty values.
fn values(raw: impl IntoIterator<Item = Option<String>>) -> Vec<String> {
    raw.into_iter()
        .flatten()
        .map(|v| norm(&v))
        .filter(|v| !v.is_empty())
        .collect()
}

/// NFKD, no combining marks, lowercase, single spaces, trimmed.
pub fn norm(s: &str) -> String {
    let folded: String = s
        .nfkd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// [`norm`] with `_` and `-` as spaces.
fn spaced(s: &str) -> String {
    norm(&s.replace(['_', '-'], " "))
}

/// The four parts of a key's filter: `(all, include, terms)`.
fn parts(filter: &Value) -> Vec<(bool, bool, &Value)> {
    let mut out = Vec::new();
    for (quantifier, all) in [("any", false), ("all", true)] {
        if let Some(side) = filter.get(quantifier).filter(|v| !v.is_null()) {
            for (polarity, include) in [("include", true), ("exclude", false)] {
                if let Some(terms) = side.get(polarity).filter(|v| !v.is_null()) {
                    out.push((all, include, terms));
                }
            }
        }
    }
    out
}

/// Applies one part: `hit(term)` says whether the lead has the term.
fn part(all: bool, include: bool, terms: &[Value], hit: impl Fn(&str) -> bool) -> bool {
    if terms.is_empty() {
        return true;
    }
    let hits = terms
        .iter()
        .map(|t| hit(t.as_str().expect("a term is a string")));
    let found = if all {
        hits.collect::<Vec<_>>().iter().all(|h| *h)
    } else {
        hits.collect::<Vec<_>>().iter().any(|h| *h)
    };
    if include {
        found
    } else {
        !found
    }
}

fn as_terms(v: &Value) -> &[Value] {
    match v {
        Value::Array(a) => a,
        Value::Null => &[],
        other => panic!("terms: {other}"),
    }
}

fn text(filter: &Value, values: &[String]) -> bool {
    parts(filter).into_iter().all(|(all, include, p)| {
        let (mode, terms) = match p {
            Value::Object(m) => (
                m.get("mode")
                    .and_then(Value::as_str)
                    .unwrap_or("SMART")
                    .to_ascii_uppercase(),
                as_terms(m.get("content").unwrap_or(&Value::Null)),
            ),
            other => ("SMART".to_string(), as_terms(other)),
        };
        part(all, include, terms, |term| {
            let term = norm(term);
            match mode.as_str() {
                "SMART" => values.iter().any(|v| v.contains(&term)),
                "STRICT" => !term.is_empty() && values.contains(&term),
                "WORD" => values.iter().any(|v| whole_words(v, &term)),
                other => panic!("mode {other}"),
            }
        })
    })
}

/// Every word of `term` is a whole word of `value` (words: runs of letters
/// and digits). A term without words holds for every value, as the empty
/// `SMART` term is a substring of every value.
fn whole_words(value: &str, term: &str) -> bool {
    let words = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect()
    };
    let have = words(value);
    let want = words(term);
    want.iter().all(|w| have.contains(w))
}

fn list(filter: &Value, values: &[String], canon: fn(&str) -> String) -> bool {
    parts(filter).into_iter().all(|(all, include, p)| {
        part(all, include, as_terms(p), |term| {
            let term = canon(term);
            !term.is_empty() && values.contains(&term)
        })
    })
}

fn location(filter: &Value, places: &[String]) -> bool {
    let places: Vec<String> = places
        .iter()
        .flat_map(|p| p.split(','))
        .map(norm)
        .filter(|p| !p.is_empty())
        .collect();
    parts(filter).into_iter().all(|(all, include, p)| {
        part(all, include, as_terms(p), |term| {
            let wanted: Vec<String> = term
                .split(',')
                .map(norm)
                .filter(|p| !p.is_empty())
                .collect();
            !wanted.is_empty() && wanted.iter().all(|w| places.contains(w))
        })
    })
}

fn range(filter: &Value, value: Option<i64>) -> bool {
    let kind = filter
        .get("type")
        .and_then(Value::as_str)
        .map(str::to_ascii_uppercase);
    match kind.as_deref() {
        Some("ALL") => return true,
        Some("NONE") => return value.is_none(),
        _ => {}
    }
    let ranges: Vec<&Map<String, Value>> = match filter.get("range") {
        None | Some(Value::Null) => return true,
        Some(Value::Array(a)) => a.iter().map(|r| r.as_object().expect("a range")).collect(),
        Some(Value::Object(r)) => vec![r],
        Some(other) => panic!("range: {other}"),
    };
    if ranges.is_empty() {
        return true;
    }
    let Some(y) = value.map(|y| y as f64) else {
        return false;
    };
    ranges.iter().any(|r| {
        let bound = |k: &str| r.get(k).and_then(Value::as_f64);
        bound("start").is_none_or(|s| y >= s) && bound("end").is_none_or(|e| y <= e)
    })
}
