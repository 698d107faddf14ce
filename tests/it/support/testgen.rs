//! proptest generators shared by the integration tests (the filter
//! contract, fuzzing, the store differential test): random leads from small
//! vocabularies (with accent, case and spacing variants, missing fields,
//! current and past jobs) and random `filters` JSON across every key, kind,
//! part and mode.

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

use lead_export::model::{
    Company, Dates, Education, Language, Lead, NamedOrg, Text, WorkExperience,
};

const FIRST: &[&str] = &["Jane", "jane", "José", "JOSE", "  Zoë ", "Li", ""];
const LAST: &[&str] = &["Smith", "smith", "Müller", "MULLER", "O'Brien", ""];
const CITY: &[&str] = &[
    "San Francisco",
    "san  francisco",
    "Zürich",
    "Austin",
    "Paris",
    "Washington, D.C.",
    "",
];
const STATE: &[&str] = &[
    "California",
    "CALIFORNIA",
    "Texas",
    "Zurich",
    "Île-de-France",
];
const STATE_CODE: &[&str] = &["CA", "ca", "TX", "ZH"];
const COUNTRY: &[&str] = &["United States", "united  states", "Switzerland", "France"];
const COUNTRY_CODE: &[&str] = &["US", "us", "CH", "FR"];
const SENIORITY: &[&str] = &[
    "vp",
    "VP",
    "Vice President",
    "c_suite",
    "C-Suite",
    "CXO",
    "mid-level",
    "Mid Level",
    "director",
    "intern",
    "Galactic",
];
const DEPARTMENT: &[&str] = &[
    "Engineering",
    "engineering",
    "human_resources",
    "Human Resources",
    "sales",
    "Sales-Ops",
    "",
];
const SKILL: &[&str] = &[
    "Rust",
    "rust",
    "Python",
    "Machine Learning",
    "machine-learning",
    "C++",
    "Zürich Banking",
    "  ",
];
const LANGUAGE: &[&str] = &["English", "english", "Français", "Francais", "German"];
const CERT: &[&str] = &["AWS Solutions Architect", "aws", "PMP", "Scrum Master"];
const SCHOOL: &[&str] = &["Stanford University", "stanford", "ETH Zürich", "MIT"];
const DEGREE: &[&str] = &["Master of Science", "BSc", "MBA", "Bachelor of Arts"];
const FIELD: &[&str] = &["Computer Science", "computer  science", "Economics"];
const TITLE: &[&str] = &[
    "VP of Engineering",
    "Software Engineer",
    "senior software engineer",
    "Intern",
    "CEO",
    "Head of Sales",
];
const EMPLOYER: &[&str] = &[
    "Acme Technologies Inc.",
    "acme",
    "Globex",
    "Initech",
    "Zürich Insurance",
];
const END: &[&str] = &["", "  ", "2020-01", "2018"];
const DOMAIN: &[&str] = &[
    "acmetech.com",
    "www.acmetech.com",
    "ACME.com",
    "globex.io",
    "",
];
const WEBSITE: &[&str] = &[
    "https://www.acmetech.com",
    "http://acme.com/about",
    "globex.io",
    "https://www.globex.io:8080/x",
    "not a url",
];
const INDUSTRY: &[&str] = &[
    "Software Development",
    "software  development",
    "Banking",
    "Health Care",
    "health-care",
];
const TYPE: &[&str] = &[
    "PRIVATELY_HELD",
    "Public Company",
    "public",
    "NON_PROFIT",
    "Nonprofit",
    "weird",
];
const HEADCOUNT: &[&str] = &[
    "51-200",
    "5,001-10,000",
    "10,001+",
    "10001+",
    "1001-5000 employees",
    "1-10",
    "unknown",
    "",
    "N/A",
];
const REVENUE: &[&str] = &[
    "$10M - $50M",
    "$10M-$50M",
    "$500K - $1M",
    "$1B+",
    "<$1M",
    "undisclosed",
    "",
];

/// A word from `vocab`, or now and then an arbitrary short string.
fn word(vocab: &'static [&'static str]) -> BoxedStrategy<Text> {
    prop_oneof![
        9 => proptest::sample::select(vocab).prop_map(Text::from),
        1 => "[a-zA-Zéü_ ,.\\-]{0,8}".prop_map(Text::from),
    ]
    .boxed()
}

fn opt_word(vocab: &'static [&'static str]) -> BoxedStrategy<Option<Text>> {
    option::weighted(0.7, word(vocab)).boxed()
}

fn opt_words(vocab: &'static [&'static str]) -> BoxedStrategy<Option<Vec<Text>>> {
    option::weighted(0.7, vec(word(vocab), 0..3)).boxed()
}

fn named(vocab: &'static [&'static str]) -> BoxedStrategy<Option<NamedOrg>> {
    option::weighted(0.8, opt_word(vocab).prop_map(|name| NamedOrg { name })).boxed()
}

fn job() -> impl Strategy<Value = WorkExperience> {
    (named(EMPLOYER), opt_word(TITLE), option::of(opt_word(END))).prop_map(
        |(company, title, end)| WorkExperience {
            company,
            title,
            dates: end.map(|end| Dates {
                start: Some("2010".into()),
                end,
            }),
        },
    )
}

fn education() -> impl Strategy<Value = Education> {
    (named(SCHOOL), opt_word(DEGREE), opt_word(FIELD)).prop_map(
        |(institution, degree_name, field_of_study)| Education {
            institution,
            degree_name,
            field_of_study,
            dates: None,
        },
    )
}

fn company() -> impl Strategy<Value = Company> {
    (
        (
            opt_word(EMPLOYER),
            opt_word(EMPLOYER),
            opt_word(DOMAIN),
            opt_word(WEBSITE),
        ),
        (
            opt_word(CITY),
            opt_word(STATE),
            opt_word(STATE_CODE),
            opt_word(COUNTRY),
            opt_word(COUNTRY_CODE),
        ),
        (
            opt_word(INDUSTRY),
            opt_word(TYPE),
            opt_word(HEADCOUNT),
            opt_word(REVENUE),
            option::of(proptest::sample::select(&[1990i64, 2000, 2015, 2020][..])),
        ),
    )
        .prop_map(
            |(
                (name, legal_name, domain, website_url),
                (city, state, state_code, country, country_code),
                (industry, company_type, headcount, revenue, founded_year),
            )| Company {
                name,
                legal_name,
                domain,
                website_url,
                city,
                state,
                state_code,
                country,
                country_code,
                industry,
                company_type,
                headcount,
                revenue,
                founded_year,
                ..Company::default()
            },
        )
}

/// A random lead from small vocabularies, so that filters often match.
pub fn arb_lead() -> impl Strategy<Value = Lead> {
    (
        (
            "[a-f0-9]{4}",
            word(FIRST),
            word(LAST),
            opt_word(CITY),
            opt_word(STATE),
            opt_word(STATE_CODE),
            opt_word(COUNTRY),
            opt_word(COUNTRY_CODE),
        ),
        (
            opt_word(TITLE),
            opt_word(SENIORITY),
            opt_words(DEPARTMENT),
            opt_words(DEPARTMENT),
            opt_words(DEPARTMENT),
            opt_words(SKILL),
            opt_words(CERT),
        ),
        (
            option::of(vec(opt_word(LANGUAGE), 0..3)),
            option::of(vec(education(), 0..3)),
            option::of(vec(job(), 0..4)),
            option::weighted(0.85, company()),
        ),
    )
        .prop_map(
            |(
                (id, first_name, last_name, city, state, state_code, country, country_code),
                (
                    job_title,
                    seniority,
                    departments,
                    sub_departments,
                    functions,
                    skills,
                    certifications,
                ),
                (languages, educations, work_experiences, company),
            )| Lead {
                id,
                first_name,
                last_name,
                city,
                state,
                state_code,
                country,
                country_code,
                job_title,
                seniority,
                departments,
                sub_departments,
                functions,
                skills,
                certifications,
                languages: languages.map(|ls| {
                    ls.into_iter()
                        .map(|language| Language {
                            language,
                            level: None,
                        })
                        .collect()
                }),
                educations,
                work_experiences,
                company,
                ..Lead::default()
            },
        )
}

/// Filter terms: the lead vocabularies plus partial words, other spellings
/// and terms specific to a key.
fn term(vocab: &'static [&'static str], extra: &'static [&'static str]) -> BoxedStrategy<String> {
    prop_oneof![
        5 => proptest::sample::select(vocab).prop_map(str::to_string),
        3 => proptest::sample::select(extra).prop_map(str::to_string),
        1 => "[a-zA-Zéü_ ,.\\-]{0,6}",
    ]
    .boxed()
}

fn terms(vocab: &'static [&'static str], extra: &'static [&'static str]) -> BoxedStrategy<Value> {
    prop_oneof![
        1 => Just(Value::Null),
        6 => vec(term(vocab, extra), 0..3).prop_map(|ts| json!(ts)),
    ]
    .boxed()
}

/// An object of the keys whose value is present.
fn present<const N: usize>(entries: [(&str, Option<Value>); N]) -> Value {
    let m: Map<String, Value> = entries
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
        .collect();
    Value::Object(m)
}

/// `{any?, all?}` × `{include?, exclude?}`, each part from `part`.
fn parts(part: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
    let side = (option::of(part.clone()), option::of(part))
        .prop_map(|(include, exclude)| present([("include", include), ("exclude", exclude)]))
        .boxed();
    (option::of(side.clone()), option::of(side))
        .prop_map(|(any, all)| present([("any", any), ("all", all)]))
        .boxed()
}

fn list(vocab: &'static [&'static str], extra: &'static [&'static str]) -> BoxedStrategy<Value> {
    parts(terms(vocab, extra))
}

/// A text filter part: the list form, or `{mode?, content}`; only `STRICT`
/// when `strict`.
fn text_part(
    vocab: &'static [&'static str],
    extra: &'static [&'static str],
    strict: bool,
) -> BoxedStrategy<Value> {
    let modes: &'static [Option<&'static str>] = if strict {
        &[Some("STRICT"), Some("strict")]
    } else {
        &[
            None,
            Some("SMART"),
            Some("WORD"),
            Some("STRICT"),
            Some("word"),
        ]
    };
    let object =
        (proptest::sample::select(modes), terms(vocab, extra)).prop_map(|(mode, content)| {
            let mut m = Map::new();
            if let Some(mode) = mode {
                m.insert("mode".into(), json!(mode));
            }
            m.insert("content".into(), content);
            Value::Object(m)
        });
    if strict {
        object.boxed()
    } else {
        prop_oneof![terms(vocab, extra), object].boxed()
    }
}

fn text(
    vocab: &'static [&'static str],
    extra: &'static [&'static str],
    strict: bool,
) -> BoxedStrategy<Value> {
    parts(text_part(vocab, extra, strict))
}

fn range(bounds: &'static [f64]) -> BoxedStrategy<Value> {
    let bound = prop_oneof![
        1 => Just(Value::Null),
        3 => proptest::sample::select(bounds).prop_map(|b| json!(b)),
    ];
    let span = (option::of(bound.clone()), option::of(bound)).prop_map(|(start, end)| {
        let mut m = Map::new();
        if let Some(v) = start {
            m.insert("start".into(), v);
        }
        if let Some(v) = end {
            m.insert("end".into(), v);
        }
        Value::Object(m)
    });
    let ranges = prop_oneof![
        Just(None),
        span.clone().prop_map(Some),
        vec(span, 0..3).prop_map(|s| Some(json!(s))),
    ];
    let kind = proptest::sample::select(&[None, Some("RANGE"), Some("ALL"), Some("NONE")][..]);
    (kind, ranges)
        .prop_map(|(kind, range)| {
            let mut m = Map::new();
            if let Some(k) = kind {
                m.insert("type".into(), json!(k));
            }
            if let Some(r) = range {
                m.insert("range".into(), r);
            }
            Value::Object(m)
        })
        .boxed()
}

const HC_BOUNDS: &[f64] = &[
    0.0, 10.0, 50.0, 51.0, 200.0, 1000.0, 5000.0, 5001.0, 10000.0, 10001.0,
];
const REV_BOUNDS: &[f64] = &[0.0, 1e6, 5e5, 1e7, 5e7, 1e8, 1e9];
const YEAR_BOUNDS: &[f64] = &[1980.0, 1990.0, 2000.0, 2010.0, 2015.0, 2020.0];

/// Every key with a strategy for its filter: (section, key, filter).
fn key_filters(strict_only: bool) -> Vec<(&'static str, &'static str, BoxedStrategy<Value>)> {
    let s = strict_only;
    let tense = |s| {
        let sub = (
            option::of(text(
                TITLE,
                &[
                    "engineer",
                    "VP",
                    "software engineer",
                    "eng",
                    "vp engineer",
                    "ceo intern",
                    "head sales",
                ],
                s,
            )),
            option::of(text(
                EMPLOYER,
                &[
                    "acme technologies inc.",
                    "globex",
                    "acme tech",
                    "acme globex",
                    "zurich",
                ],
                s,
            )),
        )
            .prop_map(|(title, company)| {
                let mut m = Map::new();
                if let Some(t) = title {
                    m.insert("title".into(), t);
                }
                if let Some(c) = company {
                    m.insert("company".into(), c);
                }
                Value::Object(m)
            });
        option::weighted(0.5, sub)
    };
    let experience = (tense(s), tense(s), tense(s))
        .prop_map(|(current, previous, any)| {
            let mut m = Map::new();
            for (k, v) in [("current", current), ("previous", previous), ("any", any)] {
                if let Some(v) = v {
                    m.insert(k.into(), v);
                }
            }
            Value::Object(m)
        })
        .boxed();
    let education = (
        option::of(text(
            SCHOOL,
            &["stanford university", "eth zurich", "stan", "mit stanford"],
            s,
        )),
        option::of(text(DEGREE, &["master", "mba", "mast", "mba bsc"], s)),
        option::of(text(
            FIELD,
            &["computer science", "science", "sci", "economics science"],
            s,
        )),
    )
        .prop_map(|(school, degree, field)| {
            let mut m = Map::new();
            for (k, v) in [
                ("school", school),
                ("degree", degree),
                ("fieldOfStudy", field),
            ] {
                if let Some(v) = v {
                    m.insert(k.into(), v);
                }
            }
            Value::Object(m)
        })
        .boxed();
    let locations: &'static [&'static str] = &[
        "United States",
        "US",
        "California",
        "San Francisco, CA",
        "San Francisco, California, United States",
        "San Francisco, TX",
        "zurich",
        "Zürich, CH",
        ",",
    ];
    let name_terms: &'static [&'static str] = &[
        "acme",
        "acmetech.com",
        "https://www.acmetech.com/x",
        "www.globex.io",
        "acme.com",
        "globex",
        "acmetech",
        "tech",
        "acme globex",
        "io",
    ];
    vec![
        (
            "contact",
            "fullName",
            text(
                FIRST,
                &[
                    "jane smith",
                    "jose muller",
                    "smith",
                    "smi",
                    "jane o",
                    "o brien",
                ],
                s,
            ),
        ),
        ("contact", "location", list(CITY, locations)),
        (
            "contact",
            "seniority",
            list(SENIORITY, &["c suite", "VP", "founder"]),
        ),
        (
            "contact",
            "departmentAndFunction",
            list(DEPARTMENT, &["human resources", "sales ops"]),
        ),
        (
            "contact",
            "skill",
            text(
                SKILL,
                &[
                    "machine learning",
                    "learning",
                    "rust",
                    "learn",
                    "rust python",
                    "c",
                    "banking zurich",
                ],
                s,
            ),
        ),
        (
            "contact",
            "language",
            text(
                LANGUAGE,
                &["francais", "english", "eng", "english german"],
                s,
            ),
        ),
        (
            "contact",
            "certification",
            text(
                CERT,
                &["aws solutions architect", "architect", "arch", "pmp aws"],
                s,
            ),
        ),
        ("contact", "education", education),
        ("contact", "experience", experience),
        ("account", "nameOrDomain", text(EMPLOYER, name_terms, s)),
        (
            "account",
            "industry",
            list(INDUSTRY, &["software development", "health care"]),
        ),
        ("account", "location", list(CITY, locations)),
        ("account", "employeeSize", range(HC_BOUNDS)),
        ("account", "revenue", range(REV_BOUNDS)),
        ("account", "foundedYear", range(YEAR_BOUNDS)),
        (
            "account",
            "type",
            list(TYPE, &["public", "PRIVATELY_HELD", "non profit"]),
        ),
    ]
}

/// A key present in a generated filter: (key as written, section, filter).
type Entry = Option<(String, &'static str, Value)>;

/// A few random keys (each present with a small probability, sometimes
/// prefixed by its section) combined into a `filters` object.
fn filters_json(strict_only: bool) -> BoxedStrategy<Value> {
    let entries: Vec<BoxedStrategy<Entry>> = key_filters(strict_only)
        .into_iter()
        .map(|(section, key, filter)| {
            option::weighted(0.12, (filter, proptest::bool::weighted(0.2)))
                .prop_map(move |entry| {
                    entry.map(|(value, prefixed)| {
                        let k = if prefixed {
                            format!("{section}.{key}")
                        } else {
                            key.to_string()
                        };
                        (k, section, value)
                    })
                })
                .boxed()
        })
        .collect();
    entries
        .prop_map(|entries| {
            let mut root = Map::new();
            for (key, section, value) in entries.into_iter().flatten() {
                let Value::Object(sec) = root.entry(section).or_insert_with(|| json!({})) else {
                    continue;
                };
                sec.insert(key, value);
            }
            Value::Object(root)
        })
        .boxed()
}

/// One random key's filter, as a `filters` object.
pub fn arb_single_filter_json(strict_only: bool) -> impl Strategy<Value = Value> {
    let options: Vec<BoxedStrategy<Value>> = key_filters(strict_only)
        .into_iter()
        .map(|(section, key, filter)| {
            filter
                .prop_map(move |f| json!({ section: { key: f } }))
                .boxed()
        })
        .collect();
    proptest::strategy::Union::new(options)
}

/// Random, valid `filters` JSON across every key, kind, part and mode.
pub fn arb_filter_json() -> impl Strategy<Value = Value> {
    filters_json(false)
}

/// Random `filters` JSON whose text filters are all `STRICT`: every part of
/// it has an exact push-down.
pub fn arb_exact_filter_json() -> impl Strategy<Value = Value> {
    filters_json(true)
}
