//! The 27 export fields of `export-to-csv.md`: ids, labels, defaults, and how
//! a lead becomes a cell (`lead-model.md`).

use std::borrow::Cow;
use std::collections::BTreeSet;

use crate::model::{Company, Lead};

macro_rules! fields {
    ($($variant:ident => $id:literal, $label:literal, [$($attr:literal),*];)*) => {
        /// One export column.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Field { $($variant),* }

        impl Field {
            /// Every field, in the reference's order.
            pub const ALL: &'static [Field] = &[$(Field::$variant),*];

            /// The id used in `exportFields`.
            pub fn id(self) -> &'static str {
                match self { $(Field::$variant => $id),* }
            }

            /// The CSV header label.
            pub fn label(self) -> &'static str {
                match self { $(Field::$variant => $label),* }
            }

            /// The stored top-level lead attributes this field reads.
            pub fn lead_attributes(self) -> &'static [&'static str] {
                match self { $(Field::$variant => &[$($attr),*]),* }
            }
        }
    };
}

fields! {
    Name => "name", "Name", ["firstName", "lastName"];
    Emails => "emails", "Email(s)", ["emails"];
    Phones => "phones", "Phone(s)", ["phones"];
    LinkedinUrl => "linkedinUrl", "LinkedIn URL", ["linkedinUrl"];
    City => "city", "City", ["city"];
    PostalCode => "postalCode", "Postal Code", ["postalCode"];
    Country => "country", "Country", ["country"];
    JobTitle => "jobTitle", "Job Title", ["jobTitle"];
    Seniority => "seniority", "Seniority", ["seniority"];
    Departments => "departments", "Departments", ["departments"];
    Functions => "functions", "Functions", ["functions"];
    Industry => "industry", "Industry (Person)", ["industry"];
    Skills => "skills", "Skills", ["skills"];
    Languages => "languages", "Languages", ["languages"];
    CompanyName => "companyName", "Company Name", ["company"];
    CompanyLegalName => "companyLegalName", "Company Legal Name", ["company"];
    CompanyWebsite => "companyWebsite", "Company Website", ["company"];
    CompanyLinkedin => "companyLinkedin", "Company LinkedIn", ["company"];
    CompanyPhone => "companyPhone", "Company Phone(s)", ["company"];
    CompanyCity => "companyCity", "Company City (HQ)", ["company"];
    CompanyPostalCode => "companyPostalCode", "Company Postal Code (HQ)", ["company"];
    CompanyCountry => "companyCountry", "Company Country (HQ)", ["company"];
    CompanyIndustry => "companyIndustry", "Company Industry", ["company"];
    CompanyHeadcount => "companyHeadcount", "Company Headcount", ["company"];
    CompanyRevenue => "companyRevenue", "Company Revenue", ["company"];
    CompanyFoundedYear => "companyFoundedYear", "Company Founded Year", ["company"];
    CompanySummary => "companySummary", "Company Summary", ["company"];
}

impl Field {
    /// The fields exported when `exportFields` is missing or empty.
    pub const DEFAULTS: &'static [Field] = &[
        Field::Name,
        Field::Emails,
        Field::Phones,
        Field::LinkedinUrl,
        Field::City,
        Field::Country,
        Field::JobTitle,
        Field::CompanyName,
    ];

    /// The field with this id (case-sensitive, as in the reference).
    pub fn from_id(id: &str) -> Option<Field> {
        Field::ALL.iter().copied().find(|f| f.id() == id)
    }

    /// The cell this field gives for `lead`; a missing value is empty.
    pub fn cell(self, lead: &Lead) -> Cow<'_, str> {
        let company = lead.company.as_ref();
        let c = |get: fn(&Company) -> &Option<String>| -> Cow<'_, str> {
            company
                .and_then(|c| get(c).as_deref())
                .map_or(Cow::Borrowed(""), Cow::Borrowed)
        };
        match self {
            Field::Name => {
                let joined = format!("{} {}", lead.first_name.trim(), lead.last_name.trim());
                Cow::Owned(joined.trim().to_string())
            }
            Field::Emails => join(&lead.emails),
            Field::Phones => join(&lead.phones),
            Field::LinkedinUrl => text(&lead.linkedin_url),
            Field::City => text(&lead.city),
            Field::PostalCode => text(&lead.postal_code),
            Field::Country => text(&lead.country),
            Field::JobTitle => text(&lead.job_title),
            Field::Seniority => text(&lead.seniority),
            Field::Departments => join(&lead.departments),
            Field::Functions => join(&lead.functions),
            Field::Industry => text(&lead.industry),
            Field::Skills => join(&lead.skills),
            Field::Languages => Cow::Owned(
                lead.languages
                    .iter()
                    .flatten()
                    .filter_map(|l| l.language.as_deref())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            Field::CompanyName => c(|c| &c.name),
            Field::CompanyLegalName => c(|c| &c.legal_name),
            Field::CompanyWebsite => match company {
                Some(Company {
                    website_url: Some(url),
                    ..
                }) if !url.is_empty() => Cow::Borrowed(url),
                Some(Company {
                    domain: Some(domain),
                    ..
                }) if !domain.is_empty() => Cow::Owned(format!("https://{domain}")),
                _ => Cow::Borrowed(""),
            },
            Field::CompanyLinkedin => c(|c| &c.linkedin_url),
            Field::CompanyPhone => company.map_or(Cow::Borrowed(""), |c| join(&c.phones)),
            Field::CompanyCity => c(|c| &c.city),
            Field::CompanyPostalCode => c(|c| &c.postal_code),
            Field::CompanyCountry => c(|c| &c.country),
            Field::CompanyIndustry => c(|c| &c.industry),
            Field::CompanyHeadcount => c(|c| &c.headcount),
            Field::CompanyRevenue => c(|c| &c.revenue),
            Field::CompanyFoundedYear => company
                .and_then(|c| c.founded_year)
                .map_or(Cow::Borrowed(""), |y| Cow::Owned(y.to_string())),
            Field::CompanySummary => c(|c| &c.summary),
        }
    }
}

fn text(value: &Option<String>) -> Cow<'_, str> {
    Cow::Borrowed(value.as_deref().unwrap_or(""))
}

fn join(values: &Option<Vec<String>>) -> Cow<'_, str> {
    match values.as_deref() {
        None | Some([]) => Cow::Borrowed(""),
        Some([one]) => Cow::Borrowed(one),
        Some(many) => Cow::Owned(many.join(", ")),
    }
}

/// The ordered, de-duplicated, non-empty list of columns of an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldList(Vec<Field>);

impl FieldList {
    /// The eight default fields.
    pub fn defaults() -> Self {
        FieldList(Field::DEFAULTS.to_vec())
    }

    /// From the ids of `exportFields`: order kept, repeats dropped, unknown
    /// ids ignored. `None` when ids were given and none is known.
    pub fn from_ids<'a>(ids: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        let mut fields = Vec::new();
        for field in ids.into_iter().filter_map(Field::from_id) {
            if !fields.contains(&field) {
                fields.push(field);
            }
        }
        (!fields.is_empty()).then_some(FieldList(fields))
    }

    /// The columns in order.
    pub fn fields(&self) -> &[Field] {
        &self.0
    }

    /// The stored top-level attributes these columns read.
    pub fn lead_attributes(&self) -> BTreeSet<&'static str> {
        self.0
            .iter()
            .flat_map(|f| f.lead_attributes().iter().copied())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_lead() -> Lead {
        serde_json::from_str(include_str!("../tests/data/spec_lead.json")).unwrap()
    }

    #[test]
    fn there_are_27_fields_with_unique_ids_and_labels() {
        // The reference's tables list 27 ids (4 contact, 3 location,
        // 7 professional, 13 company).
        assert_eq!(Field::ALL.len(), 27);
        let ids: BTreeSet<_> = Field::ALL.iter().map(|f| f.id()).collect();
        let labels: BTreeSet<_> = Field::ALL.iter().map(|f| f.label()).collect();
        assert_eq!(ids.len(), 27);
        assert_eq!(labels.len(), 27);
    }

    #[test]
    fn defaults_are_the_reference_eight_in_order() {
        let ids: Vec<_> = FieldList::defaults()
            .fields()
            .iter()
            .map(|f| f.id())
            .collect();
        assert_eq!(
            ids,
            [
                "name",
                "emails",
                "phones",
                "linkedinUrl",
                "city",
                "country",
                "jobTitle",
                "companyName"
            ]
        );
    }

    #[test]
    fn from_ids_keeps_order_drops_repeats_and_unknowns() {
        let list = FieldList::from_ids(["companyName", "bogus", "name", "companyName"]).unwrap();
        assert_eq!(list.fields(), &[Field::CompanyName, Field::Name]);
        assert_eq!(FieldList::from_ids(["bogus", "Name"]), None);
    }

    #[test]
    fn every_cell_of_the_spec_lead() {
        let lead = spec_lead();
        let expected = [
            ("name", "Jane Smith"),
            ("emails", "jane.smith@acmetech.com, jane@personal.example"),
            ("phones", "+1-555-987-6543"),
            ("linkedinUrl", "https://www.linkedin.com/in/janesmith"),
            ("city", "San Francisco"),
            ("postalCode", "94105"),
            ("country", "United States"),
            ("jobTitle", "VP of Engineering"),
            ("seniority", "vp"),
            ("departments", "Engineering"),
            ("functions", "Engineering Management"),
            ("industry", "Software Development"),
            ("skills", "Leadership, Rust"),
            ("languages", "English"),
            ("companyName", "Acme Technologies Inc."),
            ("companyLegalName", "Acme Technologies, Inc."),
            ("companyWebsite", "https://www.acmetech.com"),
            (
                "companyLinkedin",
                "https://www.linkedin.com/company/acme-technologies",
            ),
            ("companyPhone", "+1-555-123-4567"),
            ("companyCity", "San Francisco"),
            ("companyPostalCode", "94105"),
            ("companyCountry", "United States"),
            ("companyIndustry", "software development"),
            ("companyHeadcount", "201-500"),
            ("companyRevenue", "$10M - $50M"),
            ("companyFoundedYear", "2015"),
            (
                "companySummary",
                "Enterprise workflow automation for large companies.",
            ),
        ];
        assert_eq!(expected.len(), Field::ALL.len(), "every field");
        for (id, cell) in expected {
            assert_eq!(Field::from_id(id).unwrap().cell(&lead), cell, "field {id}");
        }
    }

    #[test]
    fn website_falls_back_to_the_domain_and_missing_is_empty() {
        let mut lead = spec_lead();
        lead.company.as_mut().unwrap().website_url = None;
        assert_eq!(Field::CompanyWebsite.cell(&lead), "https://acmetech.com");
        let bare = Lead {
            id: "x".into(),
            first_name: " Ann ".into(),
            ..Lead::default()
        };
        assert_eq!(Field::Name.cell(&bare), "Ann");
        for field in Field::ALL.iter().filter(|f| **f != Field::Name) {
            assert_eq!(field.cell(&bare), "", "{}", field.id());
        }
    }
}
