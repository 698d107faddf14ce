//! The lead document (described in `docs/design.md`): what the import tool reads
//! and what the store returns. Every field but `id`, `firstName` and `lastName`
//! may be absent or null; the store may also return a projection of a lead,
//! so those three default to empty strings when absent.

use serde::{Deserialize, Serialize};

/// A lead's text: a string kept inline when it is 24 bytes or shorter
/// (most of a lead's are: names, codes, dates, cities, titles), so reading
/// a lead allocates for its long texts only. Reads as a `&str`.
pub type Text = compact_str::CompactString;

/// One saved prospect of an organization, with its current company embedded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lead {
    /// The lead's `id`.
    #[serde(default)]
    pub id: String,
    /// The lead's `firstName`.
    #[serde(default)]
    pub first_name: Text,
    /// The lead's `lastName`.
    #[serde(default)]
    pub last_name: Text,
    /// The lead's `emails`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emails: Option<Vec<Text>>,
    /// The lead's `phones`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phones: Option<Vec<Text>>,
    /// The lead's `linkedinUrl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linkedin_url: Option<Text>,
    /// The lead's `city`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<Text>,
    /// The lead's `state`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Text>,
    /// The lead's `stateCode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_code: Option<Text>,
    /// The lead's `postalCode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<Text>,
    /// The lead's `country`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<Text>,
    /// The lead's `countryCode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<Text>,
    /// The lead's `jobTitle`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_title: Option<Text>,
    /// The lead's `seniority`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seniority: Option<Text>,
    /// The lead's `departments`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub departments: Option<Vec<Text>>,
    /// The lead's `subDepartments`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_departments: Option<Vec<Text>>,
    /// The lead's `functions`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub functions: Option<Vec<Text>>,
    /// The lead's `industry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<Text>,
    /// The lead's `skills`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skills: Option<Vec<Text>>,
    /// The lead's `certifications`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certifications: Option<Vec<Text>>,
    /// The lead's `languages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub languages: Option<Vec<Language>>,
    /// The lead's `educations`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub educations: Option<Vec<Education>>,
    /// The lead's `workExperiences`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_experiences: Option<Vec<WorkExperience>>,
    /// The lead's `company`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<Company>,
}

/// A language the person speaks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Language {
    /// The language entry's `language`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Text>,
    /// The language entry's `level`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<Text>,
}

/// A named organization (school or employer) inside an education or experience.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NamedOrg {
    /// The organization's `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Text>,
}

/// Start and end of an education or a job; an end that is missing, null or
/// empty means "current".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dates {
    /// The `start`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<Text>,
    /// The `end`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<Text>,
}

/// One education entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Education {
    /// The education's `institution`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub institution: Option<NamedOrg>,
    /// The education's `degreeName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degree_name: Option<Text>,
    /// The education's `fieldOfStudy`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_of_study: Option<Text>,
    /// The education's `dates`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dates: Option<Dates>,
}

/// One job in the person's history.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkExperience {
    /// The job's `company`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<NamedOrg>,
    /// The job's `title`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<Text>,
    /// The job's `dates`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dates: Option<Dates>,
}

/// The lead's current company.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Company {
    /// The company's `id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Text>,
    /// The company's `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Text>,
    /// The company's `legalName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_name: Option<Text>,
    /// The company's `domain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<Text>,
    /// The company's `websiteUrl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website_url: Option<Text>,
    /// The company's `linkedinUrl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linkedin_url: Option<Text>,
    /// The company's `phones`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phones: Option<Vec<Text>>,
    /// The company's `city`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<Text>,
    /// The company's `state`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Text>,
    /// The company's `stateCode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_code: Option<Text>,
    /// The company's `postalCode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<Text>,
    /// The company's `country`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<Text>,
    /// The company's `countryCode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country_code: Option<Text>,
    /// The company's `industry`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub industry: Option<Text>,
    /// The company's `type`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub company_type: Option<Text>,
    /// The company's `headcount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headcount: Option<Text>,
    /// The company's `revenue`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revenue: Option<Text>,
    /// The company's `foundedYear`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub founded_year: Option<i64>,
    /// The company's `summary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Text>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_spec_example_with_nulls() {
        let json = r#"{"id":"a","firstName":"Jane","lastName":"Smith","emails":null,
            "workExperiences":[{"company":{"name":"Acme"},"title":"VP","dates":{"start":"2020-01","end":null}}],
            "company":{"name":"Acme","type":"PRIVATELY_HELD","foundedYear":2015,"unknownExtra":1}}"#;
        let lead: Lead = serde_json::from_str(json).unwrap();
        assert_eq!(lead.first_name, "Jane");
        assert_eq!(lead.emails, None);
        let company = lead.company.unwrap();
        assert_eq!(company.company_type.as_deref(), Some("PRIVATELY_HELD"));
        assert_eq!(company.founded_year, Some(2015));
        let exp = &lead.work_experiences.unwrap()[0];
        assert_eq!(exp.dates.as_ref().unwrap().end, None);
    }
}
