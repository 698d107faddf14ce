//! JSON → compiled clauses, with path-naming errors (spec section 4).

use serde_json::{Map, Value};

use super::compile::{Clause, Mode, Parts, RangeRule, Span, TextTerm};
use super::normalize::{bare_host, location_components, looks_like_domain, norm};
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
            &format!("{path}.{k}"),
            format!("unknown {what} (expected {})", allowed.join(", ")),
        )),
        None => Ok(()),
    }
}

/// An array of strings (`null` = empty).
fn strings<'a>(value: &'a Value, path: &str) -> Result<Vec<&'a str>> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                item.as_str()
                    .ok_or_else(|| error(&format!("{path}[{i}]"), "expected a string"))
            })
            .collect(),
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
        let qpath = format!("{path}.{quantifier}");
        let Some(inner) = object(inner, &qpath)? else {
            continue;
        };
        check_keys(inner, &qpath, &["include", "exclude"], "key")?;
        for (side, terms) in inner {
            let terms = part(terms, &format!("{qpath}.{side}"))?;
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

fn list_filter(field: ListField, value: &Value, path: &str) -> Result<Option<Clause>> {
    let parts = parts(value, path, &|v, p| {
        Ok(strings(v, p)?
            .into_iter()
            .map(|s| list_term(field, s))
            .collect())
    })?;
    Ok((!parts.is_empty()).then_some(Clause::List(field, parts)))
}

fn location_filter(place: Place, value: &Value, path: &str) -> Result<Option<Clause>> {
    let parts = parts(value, path, &|v, p| {
        Ok(strings(v, p)?
            .into_iter()
            .map(|s| location_components(s).collect())
            .collect())
    })?;
    Ok((!parts.is_empty()).then_some(Clause::Location(place, parts)))
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
                format!("unknown mode {s:?} (expected SMART, WORD or STRICT)"),
            )),
        },
        Some(_) => Err(error(path, "expected a string")),
    }
}

/// One text part: a plain array (mode `SMART`) or `{ "mode", "content" }`.
fn text_part(field: TextField, value: &Value, path: &str) -> Result<Vec<TextTerm>> {
    let (mode, content) = match value {
        Value::Object(map) => {
            check_keys(map, path, &["mode", "content"], "key")?;
            let mode = mode(map.get("mode"), &format!("{path}.mode"))?;
            let content = match map.get("content") {
                Some(content) => strings(content, &format!("{path}.content"))?,
                None => Vec::new(),
            };
            (mode, content)
        }
        Value::Array(_) | Value::Null => (Mode::Smart, strings(value, path)?),
        _ => return Err(error(path, "expected an array or an object")),
    };
    Ok(content
        .into_iter()
        .map(|s| {
            let mut text = norm(s);
            if field == TextField::NameOrDomain && looks_like_domain(&text) {
                text = bare_host(&text);
            }
            TextTerm::new(mode, text)
        })
        .collect())
}

fn text_filter(field: TextField, value: &Value, path: &str) -> Result<Option<Clause>> {
    let parts = parts(value, path, &|v, p| text_part(field, v, p))?;
    Ok((!parts.is_empty()).then_some(Clause::Text(field, parts)))
}

fn number(value: Option<&Value>, path: &str) -> Result<Option<f64>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|x| x.is_finite())
            .map(Some)
            .ok_or_else(|| error(path, "expected a number")),
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
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| span(item, &format!("{range_path}[{i}]")))
            .collect::<Result<_>>()?,
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
                format!("unknown range type {shown:?} (expected RANGE, ALL or NONE)"),
            ))
        }
    }
}

/// `education`: independent text filters over the lead's educations.
fn education(value: &Value, path: &str, out: &mut Vec<Clause>) -> Result<()> {
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
        out.extend(text_filter(field, v, &format!("{path}.{key}"))?);
    }
    Ok(())
}

/// `experience`: `current` / `previous` / `any`, each with independent
/// `title` and `company` text filters.
fn experience(value: &Value, path: &str, out: &mut Vec<Clause>) -> Result<()> {
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
        let tpath = format!("{path}.{key}");
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
            out.extend(text_filter(field, f, &format!("{tpath}.{sub}"))?);
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
        (Section::Contact, "fullName") => text_filter(TextField::FullName, value, path)?,
        (Section::Contact, "location") => location_filter(Place::Person, value, path)?,
        (Section::Contact, "seniority") => list_filter(ListField::Seniority, value, path)?,
        (Section::Contact, "departmentAndFunction") => {
            list_filter(ListField::Department, value, path)?
        }
        (Section::Contact, "skill") => text_filter(TextField::Skill, value, path)?,
        (Section::Contact, "language") => text_filter(TextField::Language, value, path)?,
        (Section::Contact, "certification") => text_filter(TextField::Certification, value, path)?,
        (Section::Contact, "education") => return education(value, path, out),
        (Section::Contact, "experience") => return experience(value, path, out),
        (Section::Account, "nameOrDomain") => text_filter(TextField::NameOrDomain, value, path)?,
        (Section::Account, "industry") => list_filter(ListField::Industry, value, path)?,
        (Section::Account, "location") => location_filter(Place::Company, value, path)?,
        (Section::Account, "employeeSize") => range_filter(RangeField::Headcount, value, path)?,
        (Section::Account, "revenue") => range_filter(RangeField::Revenue, value, path)?,
        (Section::Account, "foundedYear") => range_filter(RangeField::FoundedYear, value, path)?,
        (Section::Account, "type") => list_filter(ListField::CompanyType, value, path)?,
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
    for (key, section_value) in map {
        let path = format!("{root}.{key}");
        let section = match key.as_str() {
            "contact" => Section::Contact,
            "account" => Section::Account,
            _ => return Err(error(&path, "unknown section (expected contact, account)")),
        };
        let Some(filters) = object(section_value, &path)? else {
            continue;
        };
        for (key, value) in filters {
            filter(section, key, value, &format!("{path}.{key}"), &mut clauses)?;
        }
    }
    Ok(clauses)
}
