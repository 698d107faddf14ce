//! What each filter reads from a lead, normalized: the single definition used
//! by both `matches` and `search_attributes`, so the two cannot drift apart.

use super::normalize::{
    bare_host, company_type, location_components, norm, norm_spaced, seniority,
};
use super::ranges::{parse_headcount, parse_revenue};
use crate::model::{Company, Lead, Text, WorkExperience};

/// Which jobs an `experience` sub-filter looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tense {
    /// `jobTitle` / `company.name` and the work experiences with no end date.
    Current,
    /// The work experiences with an end date.
    Previous,
    /// Both.
    Any,
}

/// The fields read by text filters (all multi-valued but `FullName`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextField {
    FullName,
    Skill,
    Language,
    Certification,
    School,
    Degree,
    FieldOfStudy,
    Title(Tense),
    Employer(Tense),
    NameOrDomain,
}

/// The fields read by exact-value list filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListField {
    Seniority,
    Department,
    Industry,
    CompanyType,
}

/// Whose location a hierarchical location filter reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    Person,
    Company,
}

/// The fields read by range filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeField {
    Headcount,
    Revenue,
    FoundedYear,
}

/// An experience is current when its end date is missing, null or blank.
pub(crate) fn is_current(job: &WorkExperience) -> bool {
    job.dates
        .as_ref()
        .and_then(|d| d.end.as_deref())
        .is_none_or(|end| end.trim().is_empty())
}

fn push_norm(out: &mut Vec<Text>, value: Option<&str>) {
    if let Some(v) = value {
        let n = norm(v);
        if !n.is_empty() {
            out.push(n);
        }
    }
}

fn jobs(lead: &Lead, current: bool) -> impl Iterator<Item = &WorkExperience> {
    lead.work_experiences
        .iter()
        .flatten()
        .filter(move |job| is_current(job) == current)
}

fn tense_values(lead: &Lead, tense: Tense, title: bool, out: &mut Vec<Text>) {
    let from_job = |job: &WorkExperience| -> Option<Text> {
        if title {
            job.title.clone()
        } else {
            job.company.as_ref().and_then(|c| c.name.clone())
        }
    };
    if matches!(tense, Tense::Current | Tense::Any) {
        let own = if title {
            lead.job_title.as_deref()
        } else {
            lead.company.as_ref().and_then(|c| c.name.as_deref())
        };
        push_norm(out, own);
        for job in jobs(lead, true) {
            push_norm(out, from_job(job).as_deref());
        }
    }
    if matches!(tense, Tense::Previous | Tense::Any) {
        for job in jobs(lead, false) {
            push_norm(out, from_job(job).as_deref());
        }
    }
}

/// The normalized, non-empty values a text filter compares its terms with.
pub(crate) fn text_values(field: TextField, lead: &Lead) -> Vec<Text> {
    let mut out = Vec::new();
    let company = lead.company.as_ref();
    match field {
        TextField::FullName => {
            push_norm(
                &mut out,
                Some(&format!("{} {}", lead.first_name, lead.last_name)),
            );
        }
        TextField::Skill => lead
            .skills
            .iter()
            .flatten()
            .for_each(|v| push_norm(&mut out, Some(v))),
        TextField::Certification => lead
            .certifications
            .iter()
            .flatten()
            .for_each(|v| push_norm(&mut out, Some(v))),
        TextField::Language => lead
            .languages
            .iter()
            .flatten()
            .for_each(|l| push_norm(&mut out, l.language.as_deref())),
        TextField::School => lead.educations.iter().flatten().for_each(|e| {
            push_norm(
                &mut out,
                e.institution.as_ref().and_then(|i| i.name.as_deref()),
            )
        }),
        TextField::Degree => lead
            .educations
            .iter()
            .flatten()
            .for_each(|e| push_norm(&mut out, e.degree_name.as_deref())),
        TextField::FieldOfStudy => lead
            .educations
            .iter()
            .flatten()
            .for_each(|e| push_norm(&mut out, e.field_of_study.as_deref())),
        TextField::Title(tense) => tense_values(lead, tense, true, &mut out),
        TextField::Employer(tense) => tense_values(lead, tense, false, &mut out),
        TextField::NameOrDomain => {
            if let Some(c) = company {
                push_norm(&mut out, c.name.as_deref());
                push_norm(&mut out, c.legal_name.as_deref());
                for url in [&c.domain, &c.website_url].into_iter().flatten() {
                    let host = bare_host(&norm(url));
                    if !host.is_empty() {
                        out.push(host.into());
                    }
                }
            }
        }
    }
    out
}

/// The canonical, non-empty values a list filter compares its terms with.
pub(crate) fn list_values(field: ListField, lead: &Lead) -> Vec<Text> {
    let company = lead.company.as_ref();
    let values: Vec<Text> = match field {
        ListField::Seniority => lead.seniority.iter().map(|s| seniority(s)).collect(),
        ListField::Department => [&lead.departments, &lead.sub_departments, &lead.functions]
            .into_iter()
            .flatten()
            .flatten()
            .map(|s| norm_spaced(s))
            .collect(),
        ListField::Industry => company
            .and_then(|c| c.industry.as_deref())
            .map(norm)
            .into_iter()
            .collect(),
        ListField::CompanyType => company
            .and_then(|c| c.company_type.as_deref())
            .map(company_type)
            .into_iter()
            .collect(),
    };
    values.into_iter().filter(|v| !v.is_empty()).collect()
}

/// The canonical form of a list filter term, as `list_values` canonicalizes values.
pub(crate) fn list_term(field: ListField, term: &str) -> String {
    match field {
        ListField::Seniority => seniority(term),
        ListField::Department => norm_spaced(term),
        ListField::Industry => norm(term),
        ListField::CompanyType => company_type(term),
    }
    .into_string()
}

/// The normalized location parts (city, state, state code, country, country
/// code) of the person or of the company HQ. A part holding commas gives one
/// part per component.
pub(crate) fn location_parts(place: Place, lead: &Lead) -> Vec<Text> {
    let parts: [&Option<Text>; 5] = match (place, &lead.company) {
        (Place::Person, _) => [
            &lead.city,
            &lead.state,
            &lead.state_code,
            &lead.country,
            &lead.country_code,
        ],
        (Place::Company, Some(c)) => [
            &c.city,
            &c.state,
            &c.state_code,
            &c.country,
            &c.country_code,
        ],
        (Place::Company, None) => return Vec::new(),
    };
    parts
        .into_iter()
        .flatten()
        .flat_map(|p| location_components(p))
        .collect()
}

/// The lead's `[lo, hi]` for a range filter (`hi` may be infinite), or `None`
/// when unknown.
pub(crate) fn range_value(field: RangeField, lead: &Lead) -> Option<(f64, f64)> {
    let company: &Company = lead.company.as_ref()?;
    match field {
        RangeField::Headcount => parse_headcount(company.headcount.as_deref()?),
        RangeField::Revenue => parse_revenue(company.revenue.as_deref()?),
        RangeField::FoundedYear => company.founded_year.map(|y| (y as f64, y as f64)),
    }
}

/// The top-level lead attributes (as stored, camelCase) that a field reads.
pub(crate) fn text_attributes(field: TextField) -> &'static [&'static str] {
    match field {
        TextField::FullName => &["firstName", "lastName"],
        TextField::Skill => &["skills"],
        TextField::Language => &["languages"],
        TextField::Certification => &["certifications"],
        TextField::School | TextField::Degree | TextField::FieldOfStudy => &["educations"],
        TextField::Title(Tense::Previous) | TextField::Employer(Tense::Previous) => {
            &["workExperiences"]
        }
        TextField::Title(_) => &["jobTitle", "workExperiences"],
        TextField::Employer(_) => &["company", "workExperiences"],
        TextField::NameOrDomain => &["company"],
    }
}

/// See [`text_attributes`].
pub(crate) fn list_attributes(field: ListField) -> &'static [&'static str] {
    match field {
        ListField::Seniority => &["seniority"],
        ListField::Department => &["departments", "subDepartments", "functions"],
        ListField::Industry | ListField::CompanyType => &["company"],
    }
}

/// See [`text_attributes`].
pub(crate) fn place_attributes(place: Place) -> &'static [&'static str] {
    match place {
        Place::Person => &["city", "state", "stateCode", "country", "countryCode"],
        Place::Company => &["company"],
    }
}
