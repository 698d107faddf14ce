//! Deterministic demo leads: the data `make run` seeds, and what tests and
//! benchmarks generate. The same seed always gives the same leads.

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use crate::model::{Company, Dates, Education, Language, Lead, NamedOrg, Text, WorkExperience};

const FIRST: &[&str] = &[
    "Jane", "John", "Amélie", "Lukas", "Sofia", "Mateo", "Aiko", "Noah", "Zoë", "Omar", "Chloé",
    "Liam", "Ingrid", "Raj", "Fatima", "Björn",
];
const LAST: &[&str] = &[
    "Smith",
    "Müller",
    "García",
    "Rossi",
    "Dubois",
    "Tanaka",
    "O'Brien",
    "Kowalski",
    "Nguyen",
    "Silva",
    "Johansson",
    "Patel",
    "Schmidt",
    "Martin",
];
/// city, state, state code, country, country code
const PLACES: &[(&str, &str, &str, &str, &str)] = &[
    ("San Francisco", "California", "CA", "United States", "US"),
    ("New York", "New York", "NY", "United States", "US"),
    ("Austin", "Texas", "TX", "United States", "US"),
    ("Berlin", "Berlin", "BE", "Germany", "DE"),
    ("München", "Bavaria", "BY", "Germany", "DE"),
    ("Paris", "Île-de-France", "IDF", "France", "FR"),
    ("Zürich", "Zurich", "ZH", "Switzerland", "CH"),
    ("London", "England", "ENG", "United Kingdom", "GB"),
    ("Toronto", "Ontario", "ON", "Canada", "CA"),
    ("São Paulo", "São Paulo", "SP", "Brazil", "BR"),
];
const SENIORITIES: &[&str] = &[
    "founder",
    "owner",
    "c_suite",
    "vp",
    "director",
    "head",
    "manager",
    "senior",
    "mid_level",
    "entry",
    "intern",
];
const TITLES: &[&str] = &[
    "VP of Engineering",
    "Head of Sales",
    "Account Executive",
    "Software Engineer",
    "Marketing Manager",
    "Chief Financial Officer",
    "Data Scientist",
    "Customer Success Manager",
    "Product Manager",
    "Sales Development Representative",
];
const DEPARTMENTS: &[&str] = &[
    "Engineering",
    "Sales",
    "Marketing",
    "Finance",
    "Operations",
    "Product",
    "Customer Success",
];
const FUNCTIONS: &[&str] = &[
    "Engineering Management",
    "Business Development",
    "Demand Generation",
    "Accounting",
    "Software Development",
    "Account Management",
];
const SKILLS: &[&str] = &[
    "Rust",
    "Python",
    "Leadership",
    "Negotiation",
    "SaaS",
    "Salesforce",
    "Machine Learning",
    "Public Speaking",
    "Go",
    "Cold Calling",
    "SQL",
];
const LANGUAGES: &[&str] = &[
    "English",
    "French",
    "German",
    "Spanish",
    "Japanese",
    "Portuguese",
];
const SCHOOLS: &[&str] = &[
    "Stanford University",
    "ETH Zürich",
    "HEC Paris",
    "University of Toronto",
    "MIT",
    "Technische Universität München",
];
const DEGREES: &[&str] = &["Bachelor of Science", "Master of Science", "MBA", "PhD"];
const STUDIES: &[&str] = &["Computer Science", "Economics", "Marketing", "Physics"];
const INDUSTRIES: &[&str] = &[
    "software development",
    "financial services",
    "hospital & health care",
    "retail",
    "manufacturing",
    "marketing & advertising",
];
const TYPES: &[&str] = &[
    "PRIVATELY_HELD",
    "PUBLIC_COMPANY",
    "NON_PROFIT",
    "SELF_OWNED",
    "PARTNERSHIP",
    "EDUCATIONAL",
];
const HEADCOUNTS: &[&str] = &[
    "1-10",
    "11-50",
    "51-200",
    "201-500",
    "501-1000",
    "1001-5000 employees",
    "5,001-10,000",
    "10,001+",
    "unknown",
];
const REVENUES: &[&str] = &[
    "<$1M",
    "$1M - $10M",
    "$10M - $50M",
    "$50M-$100M",
    "$500K - $1M",
    "$1B+",
    "undisclosed",
];
const COMPANY_WORDS: &[&str] = &[
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Aperture",
];
const COMPANY_SUFFIXES: &[&str] = &["Technologies", "Labs", "Systems", "Group", "Analytics"];

fn pick<'a>(rng: &mut StdRng, items: &[&'a str]) -> &'a str {
    items.choose(rng).copied().unwrap_or_default()
}

fn some_of(rng: &mut StdRng, items: &[&str], max: usize) -> Vec<Text> {
    let n = rng.random_range(0..=max);
    items
        .choose_multiple(rng, n)
        .map(|s| Text::from(*s))
        .collect()
}

fn maybe<T>(rng: &mut StdRng, p: f64, value: impl FnOnce(&mut StdRng) -> T) -> Option<T> {
    if rng.random_bool(p) {
        Some(value(rng))
    } else {
        None
    }
}

/// A deterministic id that looks like a UUID.
fn uuid_like(rng: &mut StdRng) -> String {
    let b: [u8; 16] = rng.random();
    let h = |r: std::ops::Range<usize>| b[r].iter().map(|x| format!("{x:02x}")).collect::<String>();
    format!(
        "{}-{}-4{}-8{}-{}",
        h(0..4),
        h(4..6),
        &h(6..8)[1..],
        &h(8..10)[1..],
        h(10..16)
    )
}

/// `n` demo leads generated from `seed`.
pub fn demo_leads(seed: u64, n: usize) -> Vec<Lead> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| demo_lead(&mut rng)).collect()
}

fn demo_lead(rng: &mut StdRng) -> Lead {
    let first = pick(rng, FIRST);
    let last = pick(rng, LAST);
    let (city, state, state_code, country, country_code) = *PLACES.choose(rng).expect("places");
    let company_name: Text = format!(
        "{} {}",
        pick(rng, COMPANY_WORDS),
        pick(rng, COMPANY_SUFFIXES)
    )
    .into();
    let domain: Text = format!("{}.com", company_name.to_lowercase().replace(' ', "")).into();
    let (hq_city, hq_state, hq_state_code, hq_country, hq_country_code) =
        *PLACES.choose(rng).expect("places");
    let email_user = format!(
        "{}.{}",
        first.to_lowercase(),
        last.to_lowercase().replace('\'', "")
    );
    let title: Text = pick(rng, TITLES).into();
    let past_company: Text = format!(
        "{} {}",
        pick(rng, COMPANY_WORDS),
        pick(rng, COMPANY_SUFFIXES)
    )
    .into();
    Lead {
        id: uuid_like(rng),
        first_name: first.into(),
        last_name: last.into(),
        emails: maybe(rng, 0.9, |_| vec![format!("{email_user}@{domain}").into()]),
        phones: maybe(rng, 0.6, |rng| {
            vec![format!("+1-555-{:04}", rng.random_range(0..10_000)).into()]
        }),
        linkedin_url: maybe(rng, 0.8, |_| {
            format!(
                "https://www.linkedin.com/in/{}",
                email_user.replace('.', "")
            )
            .into()
        }),
        city: maybe(rng, 0.95, |_| city.into()),
        state: Some(state.into()),
        state_code: Some(state_code.into()),
        postal_code: maybe(rng, 0.7, |rng| {
            format!("{:05}", rng.random_range(10_000..99_999)).into()
        }),
        country: Some(country.into()),
        country_code: Some(country_code.into()),
        job_title: Some(title.clone()),
        seniority: maybe(rng, 0.9, |rng| pick(rng, SENIORITIES).into()),
        departments: Some(some_of(rng, DEPARTMENTS, 2)),
        sub_departments: None,
        functions: Some(some_of(rng, FUNCTIONS, 2)),
        industry: maybe(rng, 0.7, |rng| pick(rng, INDUSTRIES).into()),
        skills: Some(some_of(rng, SKILLS, 4)),
        certifications: maybe(rng, 0.2, |_| vec!["AWS Solutions Architect".into()]),
        languages: Some(
            some_of(rng, LANGUAGES, 2)
                .into_iter()
                .map(|l| Language {
                    language: Some(l),
                    level: Some("Professional".into()),
                })
                .collect(),
        ),
        educations: Some(vec![Education {
            institution: Some(NamedOrg {
                name: Some(pick(rng, SCHOOLS).into()),
            }),
            degree_name: Some(pick(rng, DEGREES).into()),
            field_of_study: Some(pick(rng, STUDIES).into()),
            dates: Some(Dates {
                start: Some("2008".into()),
                end: Some("2012".into()),
            }),
        }]),
        work_experiences: Some(vec![
            WorkExperience {
                company: Some(NamedOrg {
                    name: Some(company_name.clone()),
                }),
                title: Some(title),
                dates: Some(Dates {
                    start: Some("2021-03".into()),
                    end: None,
                }),
            },
            WorkExperience {
                company: Some(NamedOrg {
                    name: Some(past_company),
                }),
                title: Some(pick(rng, TITLES).into()),
                dates: Some(Dates {
                    start: Some("2016-01".into()),
                    end: Some("2021-02".into()),
                }),
            },
        ]),
        company: Some(Company {
            id: Some(uuid_like(rng).into()),
            legal_name: Some(format!("{company_name}, Inc.").into()),
            website_url: maybe(rng, 0.7, |_| format!("https://www.{domain}").into()),
            domain: Some(domain),
            name: Some(company_name),
            linkedin_url: None,
            phones: maybe(rng, 0.5, |rng| {
                vec![format!("+1-555-{:04}", rng.random_range(0..10_000)).into()]
            }),
            city: Some(hq_city.into()),
            state: Some(hq_state.into()),
            state_code: Some(hq_state_code.into()),
            postal_code: None,
            country: Some(hq_country.into()),
            country_code: Some(hq_country_code.into()),
            industry: Some(pick(rng, INDUSTRIES).into()),
            company_type: Some(pick(rng, TYPES).into()),
            headcount: Some(pick(rng, HEADCOUNTS).into()),
            revenue: Some(pick(rng, REVENUES).into()),
            founded_year: maybe(rng, 0.8, |rng| rng.random_range(1950..2024)),
            summary: maybe(rng, 0.5, |_| {
                "B2B software, \"quoted\", with commas, and a\nnewline.".into()
            }),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_leads_and_unique_ids() {
        let a = demo_leads(7, 500);
        assert_eq!(a, demo_leads(7, 500));
        assert_ne!(a, demo_leads(8, 500));
        let ids: std::collections::HashSet<_> = a.iter().map(|l| &l.id).collect();
        assert_eq!(ids.len(), 500);
        assert_eq!(a[0].id.len(), 36);
    }
}
