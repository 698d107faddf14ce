//! The 27 export fields of the contract (`docs/contract.md`): ids, labels,
//! defaults, and how a lead becomes a cell.

use std::borrow::Cow;
use std::collections::BTreeSet;

use crate::model::{Company, Lead, Text};

macro_rules! fields {
    ($($variant:ident => $id:literal, $label:literal, [$($attr:literal),*];)*) => {
        /// One export column.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Field { $(#[doc = concat!("`", $id, "`: the \"", $label, "\" column.")] $variant),* }

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
        let mut scratch = String::new();
        match self.cell_into(lead, &mut scratch) {
            Some(cell) => Cow::Borrowed(cell),
            None => Cow::Owned(scratch),
        }
    }

    /// The cell of [`Field::cell`] without allocating: `Some` when it is a
    /// value of `lead` as it is; `None` when it had to be composed (a list
    /// joined with `", "`, the name, a website from the domain, the year),
    /// in which case it is in `scratch` (cleared first). The CSV writer
    /// keeps one `scratch` for the whole file.
    #[inline(always)]
    pub fn cell_into<'a>(self, lead: &'a Lead, scratch: &mut String) -> Option<&'a str> {
        use std::fmt::Write as _;
        let company = lead.company.as_ref();
        let c = |get: fn(&Company) -> &Option<Text>| -> Option<&'a str> {
            Some(company.and_then(|c| get(c).as_deref()).unwrap_or(""))
        };
        scratch.clear();
        match self {
            Field::Name => {
                let (first, last) = (trim(&lead.first_name), trim(&lead.last_name));
                match (first.is_empty(), last.is_empty()) {
                    (_, true) => Some(first),
                    (true, false) => Some(last),
                    (false, false) => {
                        scratch.push_str(first);
                        scratch.push(' ');
                        scratch.push_str(last);
                        None
                    }
                }
            }
            Field::Emails => join(&lead.emails, scratch),
            Field::Phones => join(&lead.phones, scratch),
            Field::LinkedinUrl => text(&lead.linkedin_url),
            Field::City => text(&lead.city),
            Field::PostalCode => text(&lead.postal_code),
            Field::Country => text(&lead.country),
            Field::JobTitle => text(&lead.job_title),
            Field::Seniority => text(&lead.seniority),
            Field::Departments => join(&lead.departments, scratch),
            Field::Functions => join(&lead.functions, scratch),
            Field::Industry => text(&lead.industry),
            Field::Skills => join(&lead.skills, scratch),
            Field::Languages => {
                let mut names = lead
                    .languages
                    .iter()
                    .flatten()
                    .filter_map(|l| l.language.as_deref());
                match (names.next(), names.next()) {
                    (None, _) => Some(""),
                    (Some(one), None) => Some(one),
                    (Some(first), Some(second)) => {
                        scratch.push_str(first);
                        for name in std::iter::once(second).chain(names) {
                            scratch.push_str(", ");
                            scratch.push_str(name);
                        }
                        None
                    }
                }
            }
            Field::CompanyName => c(|c| &c.name),
            Field::CompanyLegalName => c(|c| &c.legal_name),
            Field::CompanyWebsite => match company {
                Some(Company {
                    website_url: Some(url),
                    ..
                }) if !url.is_empty() => Some(url),
                Some(Company {
                    domain: Some(domain),
                    ..
                }) if !domain.is_empty() => {
                    scratch.push_str("https://");
                    scratch.push_str(domain);
                    None
                }
                _ => Some(""),
            },
            Field::CompanyLinkedin => c(|c| &c.linkedin_url),
            Field::CompanyPhone => match company {
                Some(company) => join(&company.phones, scratch),
                None => Some(""),
            },
            Field::CompanyCity => c(|c| &c.city),
            Field::CompanyPostalCode => c(|c| &c.postal_code),
            Field::CompanyCountry => c(|c| &c.country),
            Field::CompanyIndustry => c(|c| &c.industry),
            Field::CompanyHeadcount => c(|c| &c.headcount),
            Field::CompanyRevenue => c(|c| &c.revenue),
            Field::CompanyFoundedYear => match company.and_then(|c| c.founded_year) {
                Some(year @ 0..=9999) => {
                    // Four digits or fewer, without `core::fmt`.
                    push_year(scratch, year as u16);
                    None
                }
                Some(year) => {
                    // Writing to a `String` cannot fail.
                    let _ = write!(scratch, "{year}");
                    None
                }
                None => Some(""),
            },
            Field::CompanySummary => c(|c| &c.summary),
        }
    }
}

impl Field {
    /// The values of a list field that [`Field::cell_into`] joins with
    /// `", "` (`emails`, `phones`, `departments`, `functions`, `skills`,
    /// `companyPhone`); `None` for the other fields and a missing list.
    #[inline]
    pub fn list(self, lead: &Lead) -> Option<&[Text]> {
        match self {
            Field::Emails => lead.emails.as_deref(),
            Field::Phones => lead.phones.as_deref(),
            Field::Departments => lead.departments.as_deref(),
            Field::Functions => lead.functions.as_deref(),
            Field::Skills => lead.skills.as_deref(),
            Field::CompanyPhone => lead.company.as_ref()?.phones.as_deref(),
            _ => None,
        }
    }
}

/// `value` without leading and trailing whitespace, as [`str::trim`]; a
/// value that starts and ends with an ASCII letter or digit (nearly every
/// name) is returned as it is without looking further.
#[inline]
fn trim(value: &str) -> &str {
    match value.as_bytes() {
        [first, .., last] if first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric() => value,
        [only] if only.is_ascii_alphanumeric() => value,
        _ => value.trim(),
    }
}

/// Appends `year` (at most 9999) in decimal, without leading zeros.
fn push_year(scratch: &mut String, year: u16) {
    let digits = [
        b'0' + (year / 1000) as u8,
        b'0' + (year / 100 % 10) as u8,
        b'0' + (year / 10 % 10) as u8,
        b'0' + (year % 10) as u8,
    ];
    let skip = match year {
        1000.. => 0,
        100.. => 1,
        10.. => 2,
        _ => 3,
    };
    for &d in &digits[skip..] {
        scratch.push(char::from(d));
    }
}

fn text(value: &Option<Text>) -> Option<&str> {
    Some(value.as_deref().unwrap_or(""))
}

/// A list as one cell: its values joined with `", "`.
fn join<'a>(values: &'a Option<Vec<Text>>, scratch: &mut String) -> Option<&'a str> {
    match values.as_deref() {
        None | Some([]) => Some(""),
        Some([one]) => Some(one),
        Some([first, rest @ ..]) => {
            scratch.push_str(first);
            for value in rest {
                scratch.push_str(", ");
                scratch.push_str(value);
            }
            None
        }
    }
}

/// Which part of a field's value a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    /// The whole cell, as [`Field::cell`] writes it.
    Whole,
    /// The first value of a list field (`emails`, `phones`); empty when none.
    First,
    /// The first name of `name`, by [`split_name`].
    FirstName,
    /// The last name of `name`, by [`split_name`].
    LastName,
}

/// Written where a CRM requires a value the lead does not have (what
/// Salesforce itself writes for a missing required lead field).
pub const NOT_PROVIDED: &str = "[not provided]";

/// One column of a file: its header and what fills it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Column {
    /// The header row's cell.
    pub header: &'static str,
    /// The field the column reads.
    pub field: Field,
    /// The part of the field's value it holds.
    pub part: Part,
    /// An empty cell is written as [`NOT_PROVIDED`] (a CRM requires it).
    pub required: bool,
}

impl Column {
    /// The column of the whole field under its label.
    pub fn of(field: Field) -> Self {
        Column {
            header: field.label(),
            field,
            part: Part::Whole,
            required: false,
        }
    }

    /// The cell of `lead` in this column, as [`Field::cell_into`] hands it
    /// out: `Some` when borrowed from the lead, `None` when composed into
    /// `scratch`.
    #[inline]
    pub fn cell_into<'a>(&self, lead: &'a Lead, scratch: &mut String) -> Option<&'a str> {
        let cell = match self.part {
            Part::Whole => self.field.cell_into(lead, scratch),
            Part::First => {
                scratch.clear();
                let list = match self.field {
                    Field::Emails => &lead.emails,
                    Field::Phones => &lead.phones,
                    Field::CompanyPhone => match &lead.company {
                        Some(company) => &company.phones,
                        None => &None,
                    },
                    _ => return self.field.cell_into(lead, scratch),
                };
                Some(
                    list.iter()
                        .flatten()
                        .map(|v| v.trim())
                        .find(|v| !v.is_empty())
                        .unwrap_or(""),
                )
            }
            Part::FirstName | Part::LastName => {
                scratch.clear();
                let (first, last) = split_name(&lead.first_name, &lead.last_name);
                Some(if self.part == Part::FirstName {
                    first
                } else {
                    last
                })
            }
        };
        if self.required && cell.map_or(scratch.is_empty(), str::is_empty) {
            return Some(NOT_PROVIDED);
        }
        cell
    }
}

/// Surname particles: a lower-case word among these, right before the last
/// word of a full name, belongs to the last name ("Jan van der Berg": first
/// "Jan", last "van der Berg").
pub const NAME_PARTICLES: &[&str] = &[
    "al", "bin", "binti", "da", "das", "de", "degli", "dei", "del", "della", "der", "di", "do",
    "dos", "du", "el", "la", "le", "st.", "ten", "ter", "van", "von", "zu",
];

/// The first and last name of a lead, for a CRM that wants them apart:
///
/// - both stored: as stored (trimmed);
/// - one stored, the other empty: that one is the full name. One word (or
///   a name in a script written without spaces, such as "王小明") is the
///   last name, with an empty first name (CRMs require the last name, and
///   no rule splits such a name reliably). Several words: the last word is
///   the last name, with the lower-case particles right before it
///   ([`NAME_PARTICLES`]: "Ludwig van Beethoven" → "Ludwig" / "van
///   Beethoven"); the words before are the first name ("Mary Ann Smith" →
///   "Mary Ann" / "Smith");
/// - neither: both empty.
///
/// The parts are slices of the stored name, so inner spacing is kept.
pub fn split_name<'a>(first: &'a str, last: &'a str) -> (&'a str, &'a str) {
    let (first, last) = (first.trim(), last.trim());
    let full = match (first.is_empty(), last.is_empty()) {
        (false, false) | (true, true) => return (first, last),
        (false, true) => first,
        (true, false) => last,
    };
    let words: Vec<(usize, &str)> = full
        .split_whitespace()
        .map(|w| (w.as_ptr() as usize - full.as_ptr() as usize, w))
        .collect();
    if words.len() < 2 {
        return ("", full);
    }
    let mut k = words.len() - 1;
    while k > 1 && NAME_PARTICLES.contains(&words[k - 1].1) {
        k -= 1;
    }
    let surname_at = words[k].0;
    (full[..surname_at].trim_end(), &full[surname_at..])
}

/// The columns of an export: the requested fields (ordered, de-duplicated,
/// non-empty) and the columns written for them, one per field under its
/// label unless a CRM preset ([`crate::crm`]) chose others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldList {
    fields: Vec<Field>,
    columns: Vec<Column>,
}

impl FieldList {
    fn new(fields: Vec<Field>) -> Self {
        let columns = fields.iter().copied().map(Column::of).collect();
        FieldList { fields, columns }
    }

    /// The eight default fields.
    pub fn defaults() -> Self {
        FieldList::new(Field::DEFAULTS.to_vec())
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
        (!fields.is_empty()).then(|| FieldList::new(fields))
    }

    /// The same fields written as `columns` (non-empty, each reading one of
    /// the fields).
    pub fn with_columns(self, columns: Vec<Column>) -> Self {
        FieldList {
            fields: self.fields,
            columns,
        }
    }

    /// The requested fields in order.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The columns written, in order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The stored top-level attributes these columns read.
    pub fn lead_attributes(&self) -> BTreeSet<&'static str> {
        self.columns
            .iter()
            .flat_map(|c| c.field.lead_attributes().iter().copied())
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
    fn names_split_by_the_documented_rule() {
        let cases = [
            (("Jane", "Smith"), ("Jane", "Smith")),
            ((" Jan ", "van der Berg"), ("Jan", "van der Berg")),
            (("", "Madonna"), ("", "Madonna")),
            (("Cher", ""), ("", "Cher")),
            (("", "王小明"), ("", "王小明")),
            (("Mary Ann Smith", ""), ("Mary Ann", "Smith")),
            (("", "Ludwig van Beethoven"), ("Ludwig", "van Beethoven")),
            (("", "Jan  van der Berg"), ("Jan", "van der Berg")),
            (("", "Maria de la Cruz"), ("Maria", "de la Cruz")),
            (("", "van Gogh"), ("van", "Gogh")),
            (("", "Ana Van Dyke"), ("Ana Van", "Dyke")),
            (("", ""), ("", "")),
        ];
        for ((first, last), expected) in cases {
            assert_eq!(split_name(first, last), expected, "{first:?} {last:?}");
        }
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

    #[test]
    fn names_join_trimmed_parts() {
        let name = |first: &str, last: &str| {
            let lead = Lead {
                first_name: first.into(),
                last_name: last.into(),
                ..Lead::default()
            };
            Field::Name.cell(&lead).into_owned()
        };
        assert_eq!(name(" Ann ", " Lee "), "Ann Lee");
        assert_eq!(name("", " Lee"), "Lee");
        assert_eq!(name("\tAnn", "\u{3000}"), "Ann");
        assert_eq!(name(" ", ""), "");
    }

    /// The founded year without `core::fmt` (four digits or fewer) is
    /// what `format!` writes; others go through `format!`.
    #[test]
    fn founded_years_are_written_as_format_writes_them() {
        for year in [
            0,
            7,
            42,
            999,
            1000,
            2015,
            9999,
            10_000,
            -5,
            i64::MAX,
            i64::MIN,
        ] {
            let mut lead = spec_lead();
            lead.company.as_mut().unwrap().founded_year = Some(year);
            assert_eq!(Field::CompanyFoundedYear.cell(&lead), year.to_string());
        }
    }

    /// A name is trimmed as `str::trim` trims it, the ASCII fast path
    /// included.
    #[test]
    fn names_trim_as_str_trim() {
        for (first, last) in [
            ("a", "b"),
            ("Ann", "Lee\u{a0}"),
            ("\u{3000}Ann", "L"),
            ("1", " 2 "),
        ] {
            let lead = Lead {
                first_name: first.into(),
                last_name: last.into(),
                ..Lead::default()
            };
            assert_eq!(
                Field::Name.cell(&lead),
                format!("{} {}", first.trim(), last.trim())
            );
        }
    }

    /// One `scratch` for a whole file (what the CSV writer does) gives the
    /// cells a fresh one gives, lists of one, many and none included.
    #[test]
    fn a_reused_scratch_gives_the_same_cells() {
        let mut leads = crate::demo::demo_leads(5, 200);
        leads.push(spec_lead());
        leads.push(Lead::default());
        let mut scratch = String::from("left over");
        let mut composed = 0;
        for lead in &leads {
            for field in Field::ALL {
                let fresh = field.cell(lead).into_owned();
                let reused = match field.cell_into(lead, &mut scratch) {
                    Some(cell) => cell.to_string(),
                    None => {
                        composed += 1;
                        scratch.clone()
                    }
                };
                assert_eq!(reused, fresh, "{} of {}", field.id(), lead.id);
            }
        }
        assert!(
            composed > 200,
            "only {composed} composed cells: the test checks too little"
        );
    }
}
