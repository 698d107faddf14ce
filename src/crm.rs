//! CRM presets (`format.preset`): files whose header a CRM's importer maps
//! without a mapping step. Each preset turns the requested fields into the
//! columns its CRM recognizes, in the order of the requested fields; a
//! requested field the CRM has no column for is left out (a column the
//! importer does not recognize asks for a mapping step, which is what a
//! preset avoids). `docs/formats.md` shows one row of each and how to
//! import it; `tests/data/crm/` keeps each CRM's documented column names.
//!
//! Several values of a list field (emails, phones) are joined into one cell
//! without a preset; with one, the first value goes to the CRM's primary
//! column and the others are left out: the three importers take one email
//! and one phone per column and know nothing of the kind of the others
//! (work, mobile, home), and a phone in the wrong kind's column is worse
//! than none.

use crate::fields::{Column, Field, FieldList, Part};

/// A CRM whose importer the file is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Preset {
    /// HubSpot's contact import (property labels).
    Hubspot,
    /// Salesforce's Data Import Wizard for leads (field labels).
    Salesforce,
    /// Pipedrive's spreadsheet import of people and organizations.
    Pipedrive,
}

impl Preset {
    /// Every preset, in the order of `format.preset`'s documented values.
    pub const ALL: &'static [Preset] = &[Preset::Hubspot, Preset::Salesforce, Preset::Pipedrive];

    /// The `format.preset` value naming this preset.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Hubspot => "hubspot",
            Preset::Salesforce => "salesforce",
            Preset::Pipedrive => "pipedrive",
        }
    }

    /// The preset's columns for `field`, in order (none: the CRM has no
    /// column for it).
    pub fn columns_of(self, field: Field) -> Vec<Column> {
        let col = |header, part| Column {
            header,
            field,
            part,
            required: false,
        };
        let required = |header, part| Column {
            header,
            field,
            part,
            required: true,
        };
        use Field as F;
        use Part::{First, FirstName, LastName, Whole};
        match (self, field) {
            (Preset::Hubspot, F::Name) => {
                vec![col("First Name", FirstName), col("Last Name", LastName)]
            }
            (Preset::Hubspot, F::Emails) => vec![col("Email", First)],
            (Preset::Hubspot, F::Phones) => vec![col("Phone Number", First)],
            (Preset::Hubspot, F::JobTitle) => vec![col("Job Title", Whole)],
            (Preset::Hubspot, F::City) => vec![col("City", Whole)],
            (Preset::Hubspot, F::PostalCode) => vec![col("Postal Code", Whole)],
            (Preset::Hubspot, F::Country) => vec![col("Country/Region", Whole)],
            (Preset::Hubspot, F::Industry) => vec![col("Industry", Whole)],
            (Preset::Hubspot, F::CompanyName) => vec![col("Company Name", Whole)],
            (Preset::Hubspot, F::CompanyWebsite) => vec![col("Website URL", Whole)],
            (Preset::Salesforce, F::Name) => vec![
                col("First Name", FirstName),
                required("Last Name", LastName),
            ],
            (Preset::Salesforce, F::Emails) => vec![col("Email", First)],
            (Preset::Salesforce, F::Phones) => vec![col("Phone", First)],
            (Preset::Salesforce, F::JobTitle) => vec![col("Title", Whole)],
            (Preset::Salesforce, F::City) => vec![col("City", Whole)],
            (Preset::Salesforce, F::PostalCode) => vec![col("Zip/Postal Code", Whole)],
            (Preset::Salesforce, F::Country) => vec![col("Country", Whole)],
            (Preset::Salesforce, F::Industry) => vec![col("Industry", Whole)],
            (Preset::Salesforce, F::CompanyName) => vec![required("Company", Whole)],
            (Preset::Salesforce, F::CompanyWebsite) => vec![col("Website", Whole)],
            (Preset::Pipedrive, F::Name) => vec![col("Person - Name", Whole)],
            (Preset::Pipedrive, F::Emails) => vec![col("Person - Email", First)],
            (Preset::Pipedrive, F::Phones) => vec![col("Person - Phone", First)],
            (Preset::Pipedrive, F::CompanyName) => vec![col("Organization - Name", Whole)],
            _ => Vec::new(),
        }
    }

    /// `fields` written for this CRM; `None` when none of them has a column
    /// in it.
    pub fn apply(self, fields: FieldList) -> Option<FieldList> {
        let columns: Vec<Column> = fields
            .fields()
            .iter()
            .flat_map(|f| self.columns_of(*f))
            .collect();
        (!columns.is_empty()).then(|| fields.with_columns(columns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_without_a_crm_column_is_left_out_and_order_follows_the_request() {
        let fields = FieldList::from_ids(["skills", "companyName", "name"]).unwrap();
        let out = Preset::Hubspot.apply(fields).unwrap();
        let headers: Vec<_> = out.columns().iter().map(|c| c.header).collect();
        assert_eq!(headers, ["Company Name", "First Name", "Last Name"]);
        assert_eq!(
            out.fields(),
            &[Field::Skills, Field::CompanyName, Field::Name]
        );
        let only_skills = FieldList::from_ids(["skills"]).unwrap();
        assert_eq!(Preset::Pipedrive.apply(only_skills), None);
    }
}
