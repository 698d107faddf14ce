//! The lead document as the layout before the packed one
//! ([`super::packed`]) stored it, still read: JSON text with a
//! one-character key per member (the camelCase keys were 560 of the 1,305
//! bytes of a demo lead's document), in the attribute [`COMPACT_DOC_ATTR`]
//! (a string; the current layout's is binary). The table of keys is the
//! `rename`s below; a member that is absent is left out, as in the
//! camelCase document.

use serde::{Deserialize, Serialize};

use crate::model::{Company, Dates, Education, Language, Lead, NamedOrg, Text, WorkExperience};

/// The attribute holding the lead document (without its `id`, which is the
/// sort key): packed (binary), or as JSON text with one-character keys in
/// the layout before.
pub const COMPACT_DOC_ATTR: &str = "d";

/// The keys of the members a document must hold (`firstName`,
/// `lastName`): a name may be empty, never absent.
pub(crate) const NAME_KEYS: [&str; 2] = ["f", "l"];

/// The JSON text of a lead's document (without its `id`). The lead is
/// copied into the one-character-key form first: this is the write path
/// (import, seed), not the export's.
pub fn to_json(lead: &Lead) -> serde_json::Result<String> {
    serde_json::to_string(&LeadDoc::from(lead.clone()))
}

/// The lead of a document (its `id` empty: the caller sets it from the key).
pub fn from_json(doc: &str) -> serde_json::Result<Lead> {
    serde_json::from_str::<LeadDoc>(doc).map(Lead::from)
}

/// [`Lead`] with one-character keys.
#[derive(Serialize, Deserialize)]
struct LeadDoc {
    #[serde(rename = "f", default)]
    first_name: Text,
    #[serde(rename = "l", default)]
    last_name: Text,
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    emails: Option<Vec<Text>>,
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    phones: Option<Vec<Text>>,
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    linkedin_url: Option<Text>,
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    city: Option<Text>,
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    state: Option<Text>,
    #[serde(rename = "S", default, skip_serializing_if = "Option::is_none")]
    state_code: Option<Text>,
    #[serde(rename = "z", default, skip_serializing_if = "Option::is_none")]
    postal_code: Option<Text>,
    #[serde(rename = "k", default, skip_serializing_if = "Option::is_none")]
    country: Option<Text>,
    #[serde(rename = "K", default, skip_serializing_if = "Option::is_none")]
    country_code: Option<Text>,
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    job_title: Option<Text>,
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    seniority: Option<Text>,
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    departments: Option<Vec<Text>>,
    #[serde(rename = "D", default, skip_serializing_if = "Option::is_none")]
    sub_departments: Option<Vec<Text>>,
    #[serde(rename = "F", default, skip_serializing_if = "Option::is_none")]
    functions: Option<Vec<Text>>,
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    industry: Option<Text>,
    #[serde(rename = "x", default, skip_serializing_if = "Option::is_none")]
    skills: Option<Vec<Text>>,
    #[serde(rename = "C", default, skip_serializing_if = "Option::is_none")]
    certifications: Option<Vec<Text>>,
    #[serde(rename = "g", default, skip_serializing_if = "Option::is_none")]
    languages: Option<Vec<LanguageDoc>>,
    #[serde(rename = "E", default, skip_serializing_if = "Option::is_none")]
    educations: Option<Vec<EducationDoc>>,
    #[serde(rename = "w", default, skip_serializing_if = "Option::is_none")]
    work_experiences: Option<Vec<WorkDoc>>,
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    company: Option<CompanyDoc>,
}

impl From<Lead> for LeadDoc {
    fn from(v: Lead) -> Self {
        LeadDoc {
            first_name: v.first_name,
            last_name: v.last_name,
            emails: v.emails,
            phones: v.phones,
            linkedin_url: v.linkedin_url,
            city: v.city,
            state: v.state,
            state_code: v.state_code,
            postal_code: v.postal_code,
            country: v.country,
            country_code: v.country_code,
            job_title: v.job_title,
            seniority: v.seniority,
            departments: v.departments,
            sub_departments: v.sub_departments,
            functions: v.functions,
            industry: v.industry,
            skills: v.skills,
            certifications: v.certifications,
            languages: v.languages.map(|v| v.into_iter().map(Into::into).collect()),
            educations: v
                .educations
                .map(|v| v.into_iter().map(Into::into).collect()),
            work_experiences: v
                .work_experiences
                .map(|v| v.into_iter().map(Into::into).collect()),
            company: v.company.map(Into::into),
        }
    }
}

impl From<LeadDoc> for Lead {
    fn from(v: LeadDoc) -> Self {
        Lead {
            first_name: v.first_name,
            last_name: v.last_name,
            emails: v.emails,
            phones: v.phones,
            linkedin_url: v.linkedin_url,
            city: v.city,
            state: v.state,
            state_code: v.state_code,
            postal_code: v.postal_code,
            country: v.country,
            country_code: v.country_code,
            job_title: v.job_title,
            seniority: v.seniority,
            departments: v.departments,
            sub_departments: v.sub_departments,
            functions: v.functions,
            industry: v.industry,
            skills: v.skills,
            certifications: v.certifications,
            languages: v.languages.map(|v| v.into_iter().map(Into::into).collect()),
            educations: v
                .educations
                .map(|v| v.into_iter().map(Into::into).collect()),
            work_experiences: v
                .work_experiences
                .map(|v| v.into_iter().map(Into::into).collect()),
            company: v.company.map(Into::into),
            id: String::new(),
        }
    }
}

/// [`Language`] with one-character keys.
#[derive(Serialize, Deserialize)]
struct LanguageDoc {
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    language: Option<Text>,
    #[serde(rename = "v", default, skip_serializing_if = "Option::is_none")]
    level: Option<Text>,
}

impl From<Language> for LanguageDoc {
    fn from(v: Language) -> Self {
        LanguageDoc {
            language: v.language,
            level: v.level,
        }
    }
}

impl From<LanguageDoc> for Language {
    fn from(v: LanguageDoc) -> Self {
        Language {
            language: v.language,
            level: v.level,
        }
    }
}

/// [`NamedOrg`] with one-character keys.
#[derive(Serialize, Deserialize)]
struct NamedOrgDoc {
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    name: Option<Text>,
}

impl From<NamedOrg> for NamedOrgDoc {
    fn from(v: NamedOrg) -> Self {
        NamedOrgDoc { name: v.name }
    }
}

impl From<NamedOrgDoc> for NamedOrg {
    fn from(v: NamedOrgDoc) -> Self {
        NamedOrg { name: v.name }
    }
}

/// [`Dates`] with one-character keys.
#[derive(Serialize, Deserialize)]
struct DatesDoc {
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    start: Option<Text>,
    #[serde(rename = "e", default, skip_serializing_if = "Option::is_none")]
    end: Option<Text>,
}

impl From<Dates> for DatesDoc {
    fn from(v: Dates) -> Self {
        DatesDoc {
            start: v.start,
            end: v.end,
        }
    }
}

impl From<DatesDoc> for Dates {
    fn from(v: DatesDoc) -> Self {
        Dates {
            start: v.start,
            end: v.end,
        }
    }
}

/// [`Education`] with one-character keys.
#[derive(Serialize, Deserialize)]
struct EducationDoc {
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    institution: Option<NamedOrgDoc>,
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    degree_name: Option<Text>,
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    field_of_study: Option<Text>,
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    dates: Option<DatesDoc>,
}

impl From<Education> for EducationDoc {
    fn from(v: Education) -> Self {
        EducationDoc {
            institution: v.institution.map(Into::into),
            degree_name: v.degree_name,
            field_of_study: v.field_of_study,
            dates: v.dates.map(Into::into),
        }
    }
}

impl From<EducationDoc> for Education {
    fn from(v: EducationDoc) -> Self {
        Education {
            institution: v.institution.map(Into::into),
            degree_name: v.degree_name,
            field_of_study: v.field_of_study,
            dates: v.dates.map(Into::into),
        }
    }
}

/// [`WorkExperience`] with one-character keys.
#[derive(Serialize, Deserialize)]
struct WorkDoc {
    #[serde(rename = "o", default, skip_serializing_if = "Option::is_none")]
    company: Option<NamedOrgDoc>,
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    title: Option<Text>,
    #[serde(rename = "a", default, skip_serializing_if = "Option::is_none")]
    dates: Option<DatesDoc>,
}

impl From<WorkExperience> for WorkDoc {
    fn from(v: WorkExperience) -> Self {
        WorkDoc {
            company: v.company.map(Into::into),
            title: v.title,
            dates: v.dates.map(Into::into),
        }
    }
}

impl From<WorkDoc> for WorkExperience {
    fn from(v: WorkDoc) -> Self {
        WorkExperience {
            company: v.company.map(Into::into),
            title: v.title,
            dates: v.dates.map(Into::into),
        }
    }
}

/// [`Company`] with one-character keys.
#[derive(Serialize, Deserialize)]
struct CompanyDoc {
    #[serde(rename = "I", default, skip_serializing_if = "Option::is_none")]
    id: Option<Text>,
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    name: Option<Text>,
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    legal_name: Option<Text>,
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    domain: Option<Text>,
    #[serde(rename = "w", default, skip_serializing_if = "Option::is_none")]
    website_url: Option<Text>,
    #[serde(rename = "u", default, skip_serializing_if = "Option::is_none")]
    linkedin_url: Option<Text>,
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    phones: Option<Vec<Text>>,
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    city: Option<Text>,
    #[serde(rename = "s", default, skip_serializing_if = "Option::is_none")]
    state: Option<Text>,
    #[serde(rename = "S", default, skip_serializing_if = "Option::is_none")]
    state_code: Option<Text>,
    #[serde(rename = "z", default, skip_serializing_if = "Option::is_none")]
    postal_code: Option<Text>,
    #[serde(rename = "k", default, skip_serializing_if = "Option::is_none")]
    country: Option<Text>,
    #[serde(rename = "K", default, skip_serializing_if = "Option::is_none")]
    country_code: Option<Text>,
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    industry: Option<Text>,
    #[serde(rename = "y", default, skip_serializing_if = "Option::is_none")]
    company_type: Option<Text>,
    #[serde(rename = "h", default, skip_serializing_if = "Option::is_none")]
    headcount: Option<Text>,
    #[serde(rename = "r", default, skip_serializing_if = "Option::is_none")]
    revenue: Option<Text>,
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    founded_year: Option<i64>,
    #[serde(rename = "m", default, skip_serializing_if = "Option::is_none")]
    summary: Option<Text>,
}

impl From<Company> for CompanyDoc {
    fn from(v: Company) -> Self {
        CompanyDoc {
            id: v.id,
            name: v.name,
            legal_name: v.legal_name,
            domain: v.domain,
            website_url: v.website_url,
            linkedin_url: v.linkedin_url,
            phones: v.phones,
            city: v.city,
            state: v.state,
            state_code: v.state_code,
            postal_code: v.postal_code,
            country: v.country,
            country_code: v.country_code,
            industry: v.industry,
            company_type: v.company_type,
            headcount: v.headcount,
            revenue: v.revenue,
            founded_year: v.founded_year,
            summary: v.summary,
        }
    }
}

impl From<CompanyDoc> for Company {
    fn from(v: CompanyDoc) -> Self {
        Company {
            id: v.id,
            name: v.name,
            legal_name: v.legal_name,
            domain: v.domain,
            website_url: v.website_url,
            linkedin_url: v.linkedin_url,
            phones: v.phones,
            city: v.city,
            state: v.state,
            state_code: v.state_code,
            postal_code: v.postal_code,
            country: v.country,
            country_code: v.country_code,
            industry: v.industry,
            company_type: v.company_type,
            headcount: v.headcount,
            revenue: v.revenue,
            founded_year: v.founded_year,
            summary: v.summary,
        }
    }
}
