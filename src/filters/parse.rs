//! JSON → compiled clauses, with path-naming errors (spec section 4).

use serde_json::{Map, Value};

use super::compile::{Clause, RangeRule, Span};
use super::limits::{check_bound, check_list_len, check_ranges, check_term, clip, Budget};
use super::matcher::{ExactList, Lists, SubsetList, TextList};
use super::normalize::{bare_host, location_components, looks_like_domain, norm};
use super::terms::{Mode, Parts, TextTerm};
use super::values::{list_term, ListField, Place, RangeField, Tense, TextField};
use super::FilterError;

type Result<T> = std::result::Result<T, FilterError>;

/// Keys the public reference documents that this project does not support.
const UNSUPPORTED: [&str; 8] = [
    "socialMediaLink",
    "socialMedia",
    "keyword",
    "profileBadge",
    "metric",
    "geoLocation",
    "funding",
    "technology",
];

fn error(path: &str, message: impl Into<String>) -> FilterError {
    FilterError {
        path: path.to_string(),
        message: message.into(),
    }
}

/// `path.key`, with a client-supplied `key` cut to a readable length.
fn child(path: &str, key: &str) -> String {
    format!("{path}.{}", clip(key))
}

/// An object, or `None` for `null` (absent).
fn object<'a>(value: &'a Value, path: &str) -> Result<Option<&'a Map<String, Value>>> {
    match value {
        Value::Null => Ok(None),
        Value::Object(map) => Ok(Some(map)),
        _ => Err(error(path, "expected an object")),
    }
}

/// Rejects keys other than `allowed`.
fn check_keys(map: &Map<String, Value>, path: &str, allowed: &[&str], what: &str) -> Result<()> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(error(
            &child(path, k),
            format!("unknown {what} (expected {})", allowed.join(", ")),
        )),
        None => Ok(()),
    }
}

/// An array of at most [`MAX_LIST_TERMS`](super::MAX_LIST_TERMS) strings
/// (`null` = empty).
fn strings<'a>(value: &'a Value, path: &str) -> Result<Vec<&'a str>> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => {
            check_list_len(items.len()).map_err(|m| error(path, m))?;
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    item.as_str()
                        .ok_or_else(|| error(&format!("{path}[{i}]"), "expected a string"))
                })
                .collect()
        }
        _ => Err(error(path, "expected an array")),
    }
}

/// Parses the `any` / `all` × `include` / `exclude` parts of a list or text
/// filter, each part's terms by `part`.
fn parts<T>(
    value: &Value,
    path: &str,
    part: &dyn Fn(&Value, &str) -> Result<Vec<T>>,
) -> Result<Parts<T>> {
    let mut parts = Parts::default();
    let Some(map) = object(value, path)? else {
        return Ok(parts);
    };
    check_keys(map, path, &["any", "all"], "key")?;
    for (quantifier, inner) in map {
        let qpath = child(path, quantifier);
        let Some(inner) = object(inner, &qpath)? else {
            continue;
        };
        check_keys(inner, &qpath, &["include", "exclude"], "key")?;
        for (side, terms) in inner {
            let terms = part(terms, &child(&qpath, side))?;
            let slot = match (quantifier.as_str(), side.as_str()) {
                ("any", "include") => &mut parts.any_include,
                ("all", "include") => &mut parts.all_include,
                ("any", "exclude") => &mut parts.any_exclude,
                _ => &mut parts.all_exclude,
            };
            slot.extend(terms);
        }
    }
    Ok(parts)
}

/// `{path}[{i}]`: the path of a list entry, built only for an error.
fn item(path: &str, i: usize) -> impl Fn(String) -> FilterError + '_ {
    move |message| error(&format!("{path}[{i}]"), message)
}

fn list_filter(
    field: ListField,
    value: &Value,
    path: &str,
    budget: &Budget,
) -> Result<Option<Clause>> {
    let parts = parts(value, path, &|v, p| {
        let mut out = Vec::new();
        for (i, s) in strings(v, p)?.into_iter().enumerate() {
            let term = list_term(field, s);
            check_term(&term).map_err(item(p, i))?;
            budget.take(1).map_err(item(p, i))?;
            out.push(term);
        }
        Ok(out)
    })?;
    if parts.is_empty() {
        return Ok(None);
    }
    let lists = Lists::new(&parts, ExactList::new);
    Ok(Some(Clause::List(field, parts, Box::new(lists))))
}

/// The components of a location term; each counts one term. Stops at the
/// first component over a limit, so a huge string is refused in linear time.
fn location_term(
    s: &str,
    budget: &Budget,
    fail: impl Fn(String) -> FilterError,
) -> Result<Vec<String>> {
    let mut components = Vec::new();
    for c in location_components(s) {
        check_term(&c).map_err(&fail)?;
        budget.take(1).map_err(&fail)?;
        components.push(c.into_string());
    }
    if components.is_empty() {
        budget.take(1).map_err(&fail)?;
    }
    Ok(components)
}

fn location_filter(
    place: Place,
    value: &Value,
    path: &str,
    budget: &Budget,
) -> Result<Option<Clause>> {
    let parts = parts(value, path, &|v, p| {
        strings(v, p)?
            .into_iter()
            .enumerate()
            .map(|(i, s)| location_term(s, budget, item(p, i)))
            .collect()
    })?;
    if parts.is_empty() {
        return Ok(None);
    }
    let lists = Lists::new(&parts, SubsetList::new);
    Ok(Some(Clause::Location(place, parts, Box::new(lists))))
}

fn mode(value: Option<&Value>, path: &str) -> Result<Mode> {
    match value {
        None | Some(Value::Null) => Ok(Mode::Smart),
        Some(Value::String(s)) => match s.to_ascii_uppercase().as_str() {
            "SMART" => Ok(Mode::Smart),
            "WORD" => Ok(Mode::Word),
            "STRICT" => Ok(Mode::Strict),
            _ => Err(error(
                path,
                format!(
                    "unknown mode {:?} (expected SMART, WORD or STRICT)",
                    clip(s)
                ),
            )),
        },
        Some(_) => Err(error(path, "expected a string")),
    }
}

/// One text part: a plain array (mode `SMART`) or `{ "mode", "content" }`.
fn text_part(
    field: TextField,
    value: &Value,
    path: &str,
    budget: &Budget,
) -> Result<Vec<TextTerm>> {
    let content_path;
    let (mode, content, list_path) = match value {
        Value::Object(map) => {
            check_keys(map, path, &["mode", "content"], "key")?;
            let mode = mode(map.get("mode"), &format!("{path}.mode"))?;
            content_path = format!("{path}.content");
            let content = match map.get("content") {
                Some(content) => strings(content, &content_path)?,
                None => Vec::new(),
            };
            (mode, content, content_path.as_str())
        }
        Value::Array(_) | Value::Null => (Mode::Smart, strings(value, path)?, path),
        _ => return Err(error(path, "expected an array or an object")),
    };
    let mut out = Vec::with_capacity(content.len());
    for (i, s) in content.into_iter().enumerate() {
        let mut text = norm(s).into_string();
        check_term(&text).map_err(item(list_path, i))?;
        if field == TextField::NameOrDomain && looks_like_domain(&text) {
            text = bare_host(&text);
        }
        let term = TextTerm::new(mode, text);
        let count = match mode {
            Mode::Word => term.words.len().max(1),
            Mode::Smart | Mode::Strict => 1,
        };
        budget.take(count).map_err(item(list_path, i))?;
        out.push(term);
    }
    Ok(out)
}

fn text_filter(
    field: TextField,
    value: &Value,
    path: &str,
    budget: &Budget,
) -> Result<Option<Clause>> {
    let parts = parts(value, path, &|v, p| text_part(field, v, p, budget))?;
    if parts.is_empty() {
        return Ok(None);
    }
    let lists = Lists::try_new(&parts, TextList::new).map_err(|m| error(path, m))?;
    Ok(Some(Clause::Text(field, parts, Box::new(lists))))
}

fn number(value: Option<&Value>, path: &str) -> Result<Option<f64>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            let x = n
                .as_f64()
                .filter(|x| x.is_finite())
                .ok_or_else(|| error(path, "expected a number"))?;
            check_bound(x).map_err(|m| error(path, m))?;
            Ok(Some(x))
        }
        Some(_) => Err(error(path, "expected a number")),
    }
}

fn span(value: &Value, path: &str) -> Result<Span> {
    let Value::Object(map) = value else {
        return Err(error(path, "expected an object"));
    };
    check_keys(map, path, &["start", "end"], "key")?;
    Ok(Span {
        start: number(map.get("start"), &format!("{path}.start"))?,
        end: number(map.get("end"), &format!("{path}.end"))?,
    })
}

fn range_filter(field: RangeField, value: &Value, path: &str) -> Result<Option<Clause>> {
    let Some(map) = object(value, path)? else {
        return Ok(None);
    };
    check_keys(map, path, &["type", "range"], "key")?;
    let type_path = format!("{path}.type");
    let kind = match map.get("type") {
        None | Some(Value::Null) => "RANGE".to_string(),
        Some(Value::String(s)) => s.to_ascii_uppercase(),
        Some(_) => return Err(error(&type_path, "expected a string")),
    };
    let range_path = format!("{path}.range");
    let spans = match map.get("range") {
        None | Some(Value::Null) => Vec::new(),
        Some(one @ Value::Object(_)) => vec![span(one, &range_path)?],
        Some(Value::Array(items)) => {
            check_ranges(items.len()).map_err(|m| error(&range_path, m))?;
            items
                .iter()
                .enumerate()
                .map(|(i, item)| span(item, &format!("{range_path}[{i}]")))
                .collect::<Result<_>>()?
        }
        Some(_) => return Err(error(&range_path, "expected an object or an array")),
    };
    match kind.as_str() {
        "ALL" => Ok(None),
        "NONE" => Ok(Some(Clause::Range(field, RangeRule::Unknown))),
        "RANGE" if spans.is_empty() => Ok(None),
        "RANGE" => Ok(Some(Clause::Range(field, RangeRule::Within(spans)))),
        _ => {
            let shown = map.get("type").and_then(Value::as_str).unwrap_or_default();
            Err(error(
                &type_path,
                format!(
                    "unknown range type {:?} (expected RANGE, ALL or NONE)",
                    clip(shown)
                ),
            ))
        }
    }
}

/// `education`: independent text filters over the lead's educations.
fn education(value: &Value, path: &str, budget: &Budget, out: &mut Vec<Clause>) -> Result<()> {
    let Some(map) = object(value, path)? else {
        return Ok(());
    };
    check_keys(map, path, &["school", "degree", "fieldOfStudy"], "filter")?;
    for (key, v) in map {
        let field = match key.as_str() {
            "school" => TextField::School,
            "degree" => TextField::Degree,
            _ => TextField::FieldOfStudy,
        };
        out.extend(text_filter(field, v, &child(path, key), budget)?);
    }
    Ok(())
}

/// `experience`: `current` / `previous` / `any`, each with independent
/// `title` and `company` text filters.
fn experience(value: &Value, path: &str, budget: &Budget, out: &mut Vec<Clause>) -> Result<()> {
    let Some(map) = object(value, path)? else {
        return Ok(());
    };
    check_keys(map, path, &["current", "previous", "any"], "filter")?;
    for (key, v) in map {
        let tense = match key.as_str() {
            "current" => Tense::Current,
            "previous" => Tense::Previous,
            _ => Tense::Any,
        };
        let tpath = child(path, key);
        let Some(inner) = object(v, &tpath)? else {
            continue;
        };
        check_keys(inner, &tpath, &["title", "company"], "filter")?;
        for (sub, f) in inner {
            let field = if sub == "title" {
                TextField::Title(tense)
            } else {
                TextField::Employer(tense)
            };
            out.extend(text_filter(field, f, &child(&tpath, sub), budget)?);
        }
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    Contact,
    Account,
}

impl Section {
    fn name(self) -> &'static str {
        match self {
            Section::Contact => "contact",
            Section::Account => "account",
        }
    }
}

fn filter(
    section: Section,
    key: &str,
    value: &Value,
    path: &str,
    budget: &Budget,
    out: &mut Vec<Clause>,
) -> Result<()> {
    let bare = match key.split_once('.') {
        Some((prefix, bare)) if prefix == section.name() => bare,
        Some((prefix @ ("contact" | "account"), _)) => {
            return Err(error(
                path,
                format!("filter belongs to the {prefix} section"),
            ));
        }
        _ => key,
    };
    let clause = match (section, bare) {
        (Section::Contact, "fullName") => text_filter(TextField::FullName, value, path, budget)?,
        (Section::Contact, "location") => location_filter(Place::Person, value, path, budget)?,
        (Section::Contact, "seniority") => list_filter(ListField::Seniority, value, path, budget)?,
        (Section::Contact, "departmentAndFunction") => {
            list_filter(ListField::Department, value, path, budget)?
        }
        (Section::Contact, "skill") => text_filter(TextField::Skill, value, path, budget)?,
        (Section::Contact, "language") => text_filter(TextField::Language, value, path, budget)?,
        (Section::Contact, "certification") => {
            text_filter(TextField::Certification, value, path, budget)?
        }
        (Section::Contact, "education") => return education(value, path, budget, out),
        (Section::Contact, "experience") => return experience(value, path, budget, out),
        (Section::Account, "nameOrDomain") => {
            text_filter(TextField::NameOrDomain, value, path, budget)?
        }
        (Section::Account, "industry") => list_filter(ListField::Industry, value, path, budget)?,
        (Section::Account, "location") => location_filter(Place::Company, value, path, budget)?,
        (Section::Account, "employeeSize") => range_filter(RangeField::Headcount, value, path)?,
        (Section::Account, "revenue") => range_filter(RangeField::Revenue, value, path)?,
        (Section::Account, "foundedYear") => range_filter(RangeField::FoundedYear, value, path)?,
        (Section::Account, "type") => list_filter(ListField::CompanyType, value, path, budget)?,
        (_, k) if UNSUPPORTED.contains(&k) => return Err(error(path, "unsupported filter")),
        _ => return Err(error(path, "unknown filter")),
    };
    out.extend(clause);
    Ok(())
}

/// Parses the `filters` value (root path `filters`) into its clauses.
pub(crate) fn parse(value: &Value) -> Result<Vec<Clause>> {
    let root = "filters";
    let Some(map) = object(value, root)? else {
        return Ok(Vec::new());
    };
    let mut clauses = Vec::new();
    let budget = Budget::default();
    for (key, section_value) in map {
        let path = child(root, key);
        let section = match key.as_str() {
            "contact" => Section::Contact,
            "account" => Section::Account,
            _ => return Err(error(&path, "unknown section (expected contact, account)")),
        };
        let Some(filters) = object(section_value, &path)? else {
            continue;
        };
        for (key, value) in filters {
            filter(
                section,
                key,
                value,
                &child(&path, key),
                &budget,
                &mut clauses,
            )?;
        }
    }
    Ok(clauses)
}
