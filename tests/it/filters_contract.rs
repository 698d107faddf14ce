//! The contract tests: a table over a hand-made corpus for every key, kind,
//! part and mode; the error rules; and property tests of soundness,
//! projection completeness and exactness of the push-down.

use std::collections::BTreeSet;

use proptest::prelude::*;
use serde_json::{json, Value};

use lead_export::filters::*;
use lead_export::model::Lead;

use crate::support::testgen::{
    arb_exact_filter_json, arb_filter_json, arb_lead, arb_single_filter_json,
};

fn lead(v: Value) -> Lead {
    serde_json::from_value(v).expect("corpus lead")
}

/// Ten hand-made leads, by id.
fn corpus() -> Vec<Lead> {
    vec![
        lead(json!({
            "id": "sf", "firstName": "Jane", "lastName": "Smith",
            "city": "San Francisco", "state": "California", "stateCode": "CA",
            "country": "United States", "countryCode": "US",
            "jobTitle": "VP of Engineering", "seniority": "vp",
            "departments": ["Engineering"], "subDepartments": ["Platform"],
            "functions": ["engineering_management"],
            "skills": ["Leadership", "Rust"], "certifications": ["AWS Solutions Architect"],
            "languages": [{"language": "English", "level": "Native"}],
            "educations": [
                {"institution": {"name": "Stanford University"}, "degreeName": "Master of Science",
                 "fieldOfStudy": "Computer Science"},
                {"institution": {"name": "UC Berkeley"}, "degreeName": "BA", "fieldOfStudy": "Economics"}
            ],
            "workExperiences": [
                {"company": {"name": "Acme Technologies"}, "title": "VP of Engineering",
                 "dates": {"start": "2020-01", "end": null}},
                {"company": {"name": "Globex"}, "title": "Software Engineer",
                 "dates": {"start": "2015-01", "end": "2019-12"}}
            ],
            "company": {
                "name": "Acme Technologies Inc.", "legalName": "Acme Technologies, Inc.",
                "domain": "acmetech.com", "websiteUrl": "https://www.acmetech.com",
                "city": "San Francisco", "state": "California", "stateCode": "CA",
                "country": "United States", "countryCode": "US",
                "industry": "Software Development", "type": "PRIVATELY_HELD",
                "headcount": "201-500", "revenue": "$10M - $50M", "foundedYear": 2015
            }
        })),
        lead(json!({
            "id": "zh", "firstName": "José", "lastName": "Müller",
            "city": "Zürich", "state": "Zurich", "stateCode": "ZH",
            "country": "Switzerland", "countryCode": "CH",
            "jobTitle": "Senior Data Scientist", "seniority": "Senior",
            "departments": ["Data Science"], "skills": ["Python", "Machine Learning"],
            "languages": [{"language": "German"}, {"language": "Français"}],
            "educations": [{"institution": {"name": "ETH Zürich"}, "degreeName": "PhD", "fieldOfStudy": "Physics"}],
            "workExperiences": [
                {"company": {"name": "Zürich Insurance"}, "title": "Senior Data Scientist"},
                {"company": {"name": "Initech"}, "title": "Intern", "dates": {"start": "2012", "end": "2015"}}
            ],
            "company": {
                "name": "Zürich Insurance Group", "domain": "www.zurich.com",
                "websiteUrl": "http://zurich.com/en", "city": "Zürich",
                "country": "Switzerland", "countryCode": "CH", "industry": "Insurance",
                "type": "Public Company", "headcount": "10,001+", "revenue": "$1B+", "foundedYear": 1872
            }
        })),
        lead(json!({
            "id": "tx", "firstName": "Bob", "lastName": "Jones",
            "city": "Austin", "state": "Texas", "stateCode": "TX",
            "country": "United States", "countryCode": "US",
            "jobTitle": "CEO", "seniority": "C-Suite",
            "departments": ["Executive"], "functions": ["sales-ops"], "skills": ["Leadership"],
            "workExperiences": [
                {"company": {"name": "Lone Star Widgets"}, "title": "CEO", "dates": {"start": "2015", "end": ""}},
                {"company": {"name": "Acme Technologies"}, "title": "Sales Manager",
                 "dates": {"start": "2005", "end": "2010"}}
            ],
            "company": {
                "name": "Lone Star Widgets", "domain": "lonestar.com", "city": "Austin",
                "state": "Texas", "stateCode": "TX", "country": "United States", "countryCode": "US",
                "industry": "Manufacturing", "type": "public", "headcount": "51-200",
                "revenue": "<$1M", "foundedYear": 2000
            }
        })),
        lead(json!({
            "id": "paris", "firstName": "Amélie", "lastName": "Dupont",
            "city": "Paris", "state": "Île-de-France", "stateCode": "IDF",
            "country": "France", "countryCode": "FR",
            "jobTitle": "Software Engineer", "seniority": "Mid Level",
            "skills": ["rust", "Go"], "languages": [{"language": "French"}],
            "workExperiences": [
                {"company": {"name": "Globex"}, "title": "Software Engineer", "dates": {"start": "2020", "end": null}}
            ],
            "company": {
                "name": "Globex", "domain": "globex.io", "industry": "software  development",
                "type": "NON_PROFIT", "headcount": "1001-5000 employees", "revenue": "$500K - $1M",
                "city": "Paris", "country": "France", "countryCode": "FR"
            }
        })),
        lead(json!({"id": "bare", "firstName": "Nobody", "lastName": "Known"})),
        lead(json!({
            "id": "intern", "firstName": "Li", "lastName": "Wei", "seniority": "intern",
            "jobTitle": "Intern", "departments": ["human_resources"],
            "company": {"name": "Initech", "domain": "initech.com", "headcount": "unknown",
                        "revenue": "undisclosed", "foundedYear": 2020}
        })),
        lead(json!({
            "id": "cxo", "firstName": "Zoë", "lastName": "Brown",
            "city": "San Francisco", "state": "California", "seniority": "CXO",
            "company": {"name": "Brown Holdings", "headcount": "5,001-10,000", "revenue": "$10M-$50M",
                        "type": "privately held", "foundedYear": 1990,
                        "city": "San Francisco", "state": "Texas", "stateCode": "TX"}
        })),
        lead(json!({
            "id": "mid", "firstName": "Sam", "lastName": "Lee", "seniority": "mid-level",
            "company": {"name": "Samco", "headcount": "10001+", "revenue": "N/A", "type": "weird",
                        "foundedYear": 2010}
        })),
        lead(json!({
            "id": "vp2", "firstName": "Ann", "lastName": "Vice", "seniority": "Vice President",
            "skills": []
        })),
        lead(json!({
            "id": "smith2", "firstName": "Jane", "lastName": "Smith-Jones", "seniority": "VP",
            "skills": ["Rust Programming"],
            "company": {"name": "acme", "headcount": "1-10", "revenue": "$10M - $50M",
                        "type": "Self-Employed"}
        })),
    ]
}

const ALL: &[&str] = &[
    "sf", "zh", "tx", "paris", "bare", "intern", "cxo", "mid", "vp2", "smith2",
];

fn all_but(ids: &[&str]) -> Vec<&'static str> {
    ALL.iter().copied().filter(|id| !ids.contains(id)).collect()
}

fn contact(key: &str, filter: Value) -> Value {
    json!({ "contact": { key: filter } })
}

fn account(key: &str, filter: Value) -> Value {
    json!({ "account": { key: filter } })
}

fn any_inc(terms: Value) -> Value {
    json!({ "any": { "include": terms } })
}

fn any_exc(terms: Value) -> Value {
    json!({ "any": { "exclude": terms } })
}

fn all_inc(terms: Value) -> Value {
    json!({ "all": { "include": terms } })
}

fn all_exc(terms: Value) -> Value {
    json!({ "all": { "exclude": terms } })
}

fn mode(mode: &str, content: Value) -> Value {
    json!({ "mode": mode, "content": content })
}

fn range(v: Value) -> Value {
    json!({ "type": "RANGE", "range": v })
}

fn cases() -> Vec<(&'static str, Value, Vec<&'static str>)> {
    let exp =
        |tense: &str, sub: &str, f: Value| contact("experience", json!({ tense: { sub: f } }));
    let edu = |sub: &str, f: Value| contact("education", json!({ sub: f }));
    vec![
        // Shape.
        ("empty filters match all", json!({}), ALL.to_vec()),
        ("null filters match all", Value::Null, ALL.to_vec()),
        (
            "null section is absent",
            json!({"contact": null, "account": null}),
            ALL.to_vec(),
        ),
        (
            "null filter is absent",
            contact("skill", Value::Null),
            ALL.to_vec(),
        ),
        (
            "null parts are absent",
            contact(
                "skill",
                json!({"any": null, "all": {"include": null, "exclude": null}}),
            ),
            ALL.to_vec(),
        ),
        (
            "empty include list imposes nothing",
            contact("skill", any_inc(json!([]))),
            ALL.to_vec(),
        ),
        (
            "empty list-filter parts impose nothing",
            contact(
                "seniority",
                json!({"any": {"include": [], "exclude": []}, "all": {"include": [], "exclude": []}}),
            ),
            ALL.to_vec(),
        ),
        (
            "filters AND together",
            json!({"contact": {"seniority": any_inc(json!(["vp"]))}, "account": {"type": any_inc(json!(["PRIVATELY_HELD"]))}}),
            vec!["sf"],
        ),
        (
            "prefixed contact key",
            contact("contact.fullName", any_inc(json!(["jane smith"]))),
            vec!["sf", "smith2"],
        ),
        (
            "prefixed account key",
            account("account.type", any_inc(json!(["public"]))),
            vec!["zh", "tx"],
        ),
        // fullName: text modes and normalization.
        (
            "fullName SMART list form",
            contact("fullName", any_inc(json!(["jane smith"]))),
            vec!["sf", "smith2"],
        ),
        (
            "fullName STRICT",
            contact("fullName", any_inc(mode("STRICT", json!(["Jane Smith"])))),
            vec!["sf"],
        ),
        (
            "fullName STRICT whitespace and case",
            contact(
                "fullName",
                any_inc(mode("STRICT", json!(["  jane   SMITH "]))),
            ),
            vec!["sf"],
        ),
        (
            "fullName WORD any order",
            contact("fullName", any_inc(mode("WORD", json!(["smith jane"])))),
            vec!["sf", "smith2"],
        ),
        (
            "fullName WORD whole words only",
            contact("fullName", any_inc(mode("WORD", json!(["jon"])))),
            vec![],
        ),
        (
            "fullName SMART substring",
            contact("fullName", any_inc(mode("SMART", json!(["jon"])))),
            vec!["tx", "smith2"],
        ),
        (
            "fullName mode defaults to SMART",
            contact("fullName", any_inc(json!({"content": ["smi"]}))),
            vec!["sf", "smith2"],
        ),
        (
            "fullName null mode is SMART",
            contact(
                "fullName",
                any_inc(json!({"mode": null, "content": ["smi"]})),
            ),
            vec!["sf", "smith2"],
        ),
        (
            "fullName lowercase mode",
            contact("fullName", any_inc(mode("strict", json!(["jane smith"])))),
            vec!["sf"],
        ),
        (
            "fullName accents folded",
            contact("fullName", any_inc(json!(["jose muller"]))),
            vec!["zh"],
        ),
        (
            "fullName accents folded in term",
            contact("fullName", any_inc(json!(["ZOË"]))),
            vec!["cxo"],
        ),
        (
            "fullName any exclude",
            contact("fullName", any_exc(json!(["jane"]))),
            all_but(&["sf", "smith2"]),
        ),
        (
            "fullName all include",
            contact("fullName", all_inc(json!(["jane", "jones"]))),
            vec!["smith2"],
        ),
        (
            "fullName all exclude",
            contact("fullName", all_exc(json!(["jane", "jones"]))),
            all_but(&["smith2"]),
        ),
        (
            "fullName any include several",
            contact("fullName", any_inc(json!(["brown", "wei"]))),
            vec!["intern", "cxo"],
        ),
        // Person location: hierarchical.
        (
            "location country name",
            contact("location", any_inc(json!(["United States"]))),
            vec!["sf", "tx"],
        ),
        (
            "location country code",
            contact("location", any_inc(json!(["US"]))),
            vec!["sf", "tx"],
        ),
        (
            "location state",
            contact("location", any_inc(json!(["California"]))),
            vec!["sf", "cxo"],
        ),
        (
            "location city and state code",
            contact("location", any_inc(json!(["San Francisco, CA"]))),
            vec!["sf"],
        ),
        (
            "location full hierarchy",
            contact(
                "location",
                any_inc(json!(["San Francisco, California, United States"])),
            ),
            vec!["sf"],
        ),
        (
            "location wrong state",
            contact("location", any_inc(json!(["San Francisco, TX"]))),
            vec![],
        ),
        (
            "location accents folded",
            contact("location", any_inc(json!(["zurich"]))),
            vec!["zh"],
        ),
        (
            "location accented term with code",
            contact("location", any_inc(json!(["Zürich, ch"]))),
            vec!["zh"],
        ),
        (
            "location term of only commas matches nothing",
            contact("location", any_inc(json!([" , "]))),
            vec![],
        ),
        (
            "location exclude passes missing",
            contact("location", any_exc(json!(["United States"]))),
            all_but(&["sf", "tx"]),
        ),
        (
            "location all include",
            contact("location", all_inc(json!(["US", "Texas"]))),
            vec!["tx"],
        ),
        (
            "location all exclude",
            contact("location", all_exc(json!(["US", "Texas"]))),
            all_but(&["tx"]),
        ),
        // Seniority: canonicalized.
        (
            "seniority C-Suite",
            contact("seniority", any_inc(json!(["C-Suite"]))),
            vec!["tx", "cxo"],
        ),
        (
            "seniority c suite",
            contact("seniority", any_inc(json!(["c suite"]))),
            vec!["tx", "cxo"],
        ),
        (
            "seniority CXO",
            contact("seniority", any_inc(json!(["CXO"]))),
            vec!["tx", "cxo"],
        ),
        (
            "seniority slug c_suite",
            contact("seniority", any_inc(json!(["c_suite"]))),
            vec!["tx", "cxo"],
        ),
        (
            "seniority VP",
            contact("seniority", any_inc(json!(["VP"]))),
            vec!["sf", "vp2", "smith2"],
        ),
        (
            "seniority Vice President",
            contact("seniority", any_inc(json!(["Vice President"]))),
            vec!["sf", "vp2", "smith2"],
        ),
        (
            "seniority Mid Level",
            contact("seniority", any_inc(json!(["Mid Level"]))),
            vec!["paris", "mid"],
        ),
        (
            "seniority mid-level",
            contact("seniority", any_inc(json!(["mid-level"]))),
            vec!["paris", "mid"],
        ),
        (
            "seniority unknown value matches nothing",
            contact("seniority", any_inc(json!(["emperor"]))),
            vec![],
        ),
        (
            "seniority unknown exclude keeps all",
            contact("seniority", any_exc(json!(["emperor"]))),
            ALL.to_vec(),
        ),
        (
            "seniority exclude passes missing",
            contact("seniority", any_exc(json!(["vp"]))),
            all_but(&["sf", "vp2", "smith2"]),
        ),
        (
            "seniority all include two values",
            contact("seniority", all_inc(json!(["vp", "senior"]))),
            vec![],
        ),
        (
            "seniority all exclude two values",
            contact("seniority", all_exc(json!(["vp", "senior"]))),
            ALL.to_vec(),
        ),
        (
            "seniority all exclude one value",
            contact("seniority", all_exc(json!(["senior"]))),
            all_but(&["zh"]),
        ),
        // Departments and functions.
        (
            "department label vs slug",
            contact(
                "departmentAndFunction",
                any_inc(json!(["Engineering Management"])),
            ),
            vec!["sf"],
        ),
        (
            "department slug vs label",
            contact("departmentAndFunction", any_inc(json!(["human_resources"]))),
            vec!["intern"],
        ),
        (
            "department label vs underscore slug",
            contact("departmentAndFunction", any_inc(json!(["Human Resources"]))),
            vec!["intern"],
        ),
        (
            "department hyphen as space",
            contact("departmentAndFunction", any_inc(json!(["sales ops"]))),
            vec!["tx"],
        ),
        (
            "sub-department",
            contact("departmentAndFunction", any_inc(json!(["platform"]))),
            vec!["sf"],
        ),
        (
            "department exact, not substring",
            contact("departmentAndFunction", any_inc(json!(["engineer"]))),
            vec![],
        ),
        // Skills.
        (
            "skill SMART",
            contact("skill", any_inc(json!(["rust"]))),
            vec!["sf", "paris", "smith2"],
        ),
        (
            "skill STRICT",
            contact("skill", any_inc(mode("STRICT", json!(["RUST"])))),
            vec!["sf", "paris"],
        ),
        (
            "skill WORD",
            contact("skill", any_inc(mode("WORD", json!(["programming rust"])))),
            vec!["smith2"],
        ),
        (
            "skill WORD without words matches any value",
            contact("skill", any_inc(mode("WORD", json!(["--"])))),
            vec!["sf", "zh", "tx", "paris", "smith2"],
        ),
        (
            "skill SMART empty term matches any value",
            contact("skill", any_inc(json!([""]))),
            vec!["sf", "zh", "tx", "paris", "smith2"],
        ),
        (
            "skill STRICT empty term matches nothing",
            contact("skill", any_inc(mode("STRICT", json!([""])))),
            vec![],
        ),
        (
            "skill all include over values",
            contact("skill", all_inc(json!(["rust", "go"]))),
            vec!["paris"],
        ),
        (
            "skill any exclude passes missing",
            contact("skill", any_exc(json!(["rust"]))),
            all_but(&["sf", "paris", "smith2"]),
        ),
        (
            "skill WORD exclude",
            contact("skill", any_exc(mode("WORD", json!(["rust"])))),
            all_but(&["sf", "paris", "smith2"]),
        ),
        (
            "skill WORD words must share one value",
            contact("skill", any_inc(mode("WORD", json!(["leadership rust"])))),
            vec![],
        ),
        (
            "skill WORD exclude across values keeps lead",
            contact("skill", any_exc(mode("WORD", json!(["leadership rust"])))),
            ALL.to_vec(),
        ),
        (
            "skill WORD all exclude across values keeps lead",
            contact(
                "skill",
                all_exc(mode("WORD", json!(["leadership rust", "rust"]))),
            ),
            ALL.to_vec(),
        ),
        (
            "skill all exclude STRICT",
            contact("skill", all_exc(mode("STRICT", json!(["rust", "go"])))),
            all_but(&["paris"]),
        ),
        (
            "skill include and exclude",
            contact(
                "skill",
                json!({"any": {"include": ["rust"], "exclude": mode("STRICT", json!(["go"]))}}),
            ),
            vec!["sf", "smith2"],
        ),
        (
            "skill missing fails include",
            contact("skill", all_inc(json!(["leadership"]))),
            vec!["sf", "tx"],
        ),
        // Language, certification.
        (
            "language accents folded",
            contact("language", any_inc(json!(["francais"]))),
            vec!["zh"],
        ),
        (
            "language STRICT",
            contact("language", any_inc(mode("STRICT", json!(["english"])))),
            vec!["sf"],
        ),
        (
            "certification SMART",
            contact("certification", any_inc(json!(["architect"]))),
            vec!["sf"],
        ),
        (
            "certification exclude",
            contact("certification", any_exc(json!(["aws"]))),
            all_but(&["sf"]),
        ),
        // Education.
        (
            "education school",
            edu("school", any_inc(json!(["stanford"]))),
            vec!["sf"],
        ),
        (
            "education school accents",
            edu("school", any_inc(mode("STRICT", json!(["eth zurich"])))),
            vec!["zh"],
        ),
        (
            "education degree",
            edu("degree", any_inc(json!(["phd"]))),
            vec!["zh"],
        ),
        (
            "education fieldOfStudy",
            edu(
                "fieldOfStudy",
                any_inc(mode("WORD", json!(["science computer"]))),
            ),
            vec!["sf"],
        ),
        (
            "education sub-filters are independent",
            contact(
                "education",
                json!({"school": any_inc(json!(["berkeley"])), "degree": any_inc(json!(["master"]))}),
            ),
            vec!["sf"],
        ),
        (
            "education both must pass",
            contact(
                "education",
                json!({"school": any_inc(json!(["stanford"])), "degree": any_inc(json!(["phd"]))}),
            ),
            vec![],
        ),
        // Experience.
        (
            "current title from jobTitle",
            exp("current", "title", any_inc(json!(["vp of engineering"]))),
            vec!["sf"],
        ),
        (
            "current title from job with null end",
            exp(
                "current",
                "title",
                any_inc(mode("STRICT", json!(["software engineer"]))),
            ),
            vec!["paris"],
        ),
        (
            "previous title",
            exp(
                "previous",
                "title",
                any_inc(mode("STRICT", json!(["software engineer"]))),
            ),
            vec!["sf"],
        ),
        (
            "any title",
            exp(
                "any",
                "title",
                any_inc(mode("STRICT", json!(["software engineer"]))),
            ),
            vec!["sf", "paris"],
        ),
        (
            "current title with empty end",
            exp("current", "title", any_inc(json!(["ceo"]))),
            vec!["tx"],
        ),
        (
            "previous title not from empty end",
            exp("previous", "title", any_inc(json!(["ceo"]))),
            vec![],
        ),
        (
            "current title from job without dates",
            exp(
                "current",
                "title",
                any_inc(mode("STRICT", json!(["senior data scientist"]))),
            ),
            vec!["zh"],
        ),
        (
            "previous title with end date",
            exp("previous", "title", any_inc(json!(["intern"]))),
            vec!["zh"],
        ),
        (
            "current title intern",
            exp("current", "title", any_inc(json!(["intern"]))),
            vec!["intern"],
        ),
        (
            "current company from company.name",
            exp("current", "company", any_inc(json!(["acme"]))),
            vec!["sf", "smith2"],
        ),
        (
            "previous company",
            exp("previous", "company", any_inc(json!(["acme"]))),
            vec!["tx"],
        ),
        (
            "current company exclude",
            exp("current", "company", any_exc(json!(["acme"]))),
            all_but(&["sf", "smith2"]),
        ),
        (
            "experience title and company are independent",
            contact(
                "experience",
                json!({"any": {"title": any_inc(json!(["intern"])), "company": any_inc(json!(["zurich insurance"]))}}),
            ),
            vec!["zh"],
        ),
        // nameOrDomain.
        (
            "nameOrDomain domain",
            account("nameOrDomain", any_inc(json!(["acmetech.com"]))),
            vec!["sf"],
        ),
        (
            "nameOrDomain URL term",
            account(
                "nameOrDomain",
                any_inc(json!(["https://www.acmetech.com/x"])),
            ),
            vec!["sf"],
        ),
        (
            "nameOrDomain www dropped on both sides",
            account(
                "nameOrDomain",
                any_inc(mode("STRICT", json!(["www.zurich.com"]))),
            ),
            vec!["zh"],
        ),
        (
            "nameOrDomain STRICT bare domain vs www domain",
            account(
                "nameOrDomain",
                any_inc(mode("STRICT", json!(["zurich.com"]))),
            ),
            vec!["zh"],
        ),
        (
            "nameOrDomain website host",
            account(
                "nameOrDomain",
                any_inc(mode("STRICT", json!(["HTTP://globex.io/"]))),
            ),
            vec!["paris"],
        ),
        (
            "nameOrDomain name SMART",
            account("nameOrDomain", any_inc(json!(["acme"]))),
            vec!["sf", "smith2"],
        ),
        (
            "nameOrDomain name STRICT",
            account("nameOrDomain", any_inc(mode("STRICT", json!(["acme"])))),
            vec!["smith2"],
        ),
        (
            "nameOrDomain legal name STRICT",
            account(
                "nameOrDomain",
                any_inc(mode("STRICT", json!(["Acme Technologies, Inc."]))),
            ),
            vec!["sf"],
        ),
        (
            "nameOrDomain other domain",
            account("nameOrDomain", any_inc(json!(["acme.com"]))),
            vec![],
        ),
        (
            "nameOrDomain WORD",
            account("nameOrDomain", any_inc(mode("WORD", json!(["acmetech"])))),
            vec!["sf"],
        ),
        (
            "nameOrDomain exclude passes missing company",
            account("nameOrDomain", any_exc(json!(["globex.io"]))),
            all_but(&["paris"]),
        ),
        // Industry.
        (
            "industry normalized",
            account("industry", any_inc(json!(["Software Development"]))),
            vec!["sf", "paris"],
        ),
        (
            "industry exact, not substring",
            account("industry", any_inc(json!(["software"]))),
            vec![],
        ),
        (
            "industry exclude",
            account("industry", any_exc(json!(["insurance"]))),
            all_but(&["zh"]),
        ),
        // Company location.
        (
            "company location city and state",
            account("location", any_inc(json!(["San Francisco, TX"]))),
            vec!["cxo"],
        ),
        (
            "company location country",
            account("location", any_inc(json!(["United States"]))),
            vec!["sf", "tx"],
        ),
        (
            "company location state code",
            account("location", any_inc(json!(["ca"]))),
            vec!["sf"],
        ),
        (
            "company location accents",
            account("location", any_inc(json!(["ZURICH"]))),
            vec!["zh"],
        ),
        // Employee size.
        (
            "headcount range",
            account("employeeSize", range(json!([{"start": 51, "end": 200}]))),
            vec!["tx"],
        ),
        (
            "headcount range exact bounds",
            account("employeeSize", range(json!([{"start": 201, "end": 500}]))),
            vec!["sf"],
        ),
        (
            "headcount value must lie inside",
            account("employeeSize", range(json!([{"start": 100, "end": 300}]))),
            vec![],
        ),
        (
            "headcount any of ranges, open end",
            account(
                "employeeSize",
                range(json!([{"start": 51, "end": 200}, {"start": 1001, "end": null}])),
            ),
            vec!["zh", "tx", "paris", "cxo", "mid"],
        ),
        (
            "headcount open start",
            account("employeeSize", range(json!([{"end": 10000}]))),
            vec!["sf", "tx", "paris", "cxo", "smith2"],
        ),
        (
            "headcount 10,001+ and 10001+",
            account("employeeSize", range(json!({"start": 10001}))),
            vec!["zh", "mid"],
        ),
        (
            "headcount single range object",
            account("employeeSize", range(json!({"start": 1, "end": 10}))),
            vec!["smith2"],
        ),
        (
            "headcount neither start nor end: known only",
            account("employeeSize", range(json!([{}]))),
            vec!["sf", "zh", "tx", "paris", "cxo", "mid", "smith2"],
        ),
        (
            "headcount null start and end: known only",
            account("employeeSize", range(json!([{"start": null, "end": null}]))),
            vec!["sf", "zh", "tx", "paris", "cxo", "mid", "smith2"],
        ),
        (
            "headcount NONE: unknown only",
            account("employeeSize", json!({"type": "NONE"})),
            vec!["bare", "intern", "vp2"],
        ),
        (
            "headcount NONE ignores range",
            account(
                "employeeSize",
                json!({"type": "NONE", "range": [{"start": 1}]}),
            ),
            vec!["bare", "intern", "vp2"],
        ),
        (
            "headcount ALL ignores range",
            account(
                "employeeSize",
                json!({"type": "ALL", "range": [{"start": 1, "end": 2}]}),
            ),
            ALL.to_vec(),
        ),
        (
            "headcount RANGE without range",
            account("employeeSize", json!({"type": "RANGE"})),
            ALL.to_vec(),
        ),
        (
            "headcount type defaults to RANGE",
            account("employeeSize", json!({"range": {"start": 51, "end": 200}})),
            vec!["tx"],
        ),
        (
            "headcount null range",
            account("employeeSize", json!({"range": null})),
            ALL.to_vec(),
        ),
        (
            "headcount empty range list",
            account("employeeSize", range(json!([]))),
            ALL.to_vec(),
        ),
        // Revenue.
        (
            "revenue $10M - $50M and $10M-$50M",
            account(
                "revenue",
                range(json!([{"start": 10_000_000, "end": 50_000_000}])),
            ),
            vec!["sf", "cxo", "smith2"],
        ),
        (
            "revenue <$1M and $500K - $1M",
            account("revenue", range(json!([{"end": 1_000_000}]))),
            vec!["tx", "paris"],
        ),
        (
            "revenue $500K lower bound",
            account(
                "revenue",
                range(json!([{"start": 500_000, "end": 1_000_000}])),
            ),
            vec!["paris"],
        ),
        (
            "revenue $1B+",
            account("revenue", range(json!([{"start": 1e9}]))),
            vec!["zh"],
        ),
        (
            "revenue NONE: undisclosed, N/A, missing",
            account("revenue", json!({"type": "NONE"})),
            vec!["bare", "intern", "mid", "vp2"],
        ),
        // Founded year.
        (
            "founded year range",
            account("foundedYear", range(json!([{"start": 2000, "end": 2015}]))),
            vec!["sf", "tx", "mid"],
        ),
        (
            "founded year old",
            account("foundedYear", range(json!({"start": 1800, "end": 1900}))),
            vec!["zh"],
        ),
        (
            "founded year NONE",
            account("foundedYear", json!({"type": "NONE"})),
            vec!["paris", "bare", "vp2", "smith2"],
        ),
        // Company type.
        (
            "type Public Company",
            account("type", any_inc(json!(["Public Company"]))),
            vec!["zh", "tx"],
        ),
        (
            "type public",
            account("type", any_inc(json!(["public"]))),
            vec!["zh", "tx"],
        ),
        (
            "type PUBLIC_COMPANY",
            account("type", any_inc(json!(["PUBLIC_COMPANY"]))),
            vec!["zh", "tx"],
        ),
        (
            "type privately held",
            account("type", any_inc(json!(["PRIVATELY_HELD"]))),
            vec!["sf", "cxo"],
        ),
        (
            "type non profit",
            account("type", any_inc(json!(["non profit"]))),
            vec!["paris"],
        ),
        (
            "type self employed",
            account("type", any_inc(json!(["SELF_EMPLOYED"]))),
            vec!["smith2"],
        ),
        (
            "type unknown stored value",
            account("type", any_inc(json!(["Weird"]))),
            vec!["mid"],
        ),
        (
            "type unknown value matches nothing",
            account("type", any_inc(json!(["alien"]))),
            vec![],
        ),
        (
            "type exclude",
            account("type", any_exc(json!(["public"]))),
            all_but(&["zh", "tx"]),
        ),
    ]
}

fn ids(filter: &CompiledFilter, leads: &[Lead]) -> Vec<String> {
    leads
        .iter()
        .filter(|l| filter.matches(l))
        .map(|l| l.id.clone())
        .collect()
}

#[test]
fn table_of_keys_kinds_parts_and_modes() {
    let leads = corpus();
    let mut failures = Vec::new();
    for (name, json, expected) in cases() {
        let filter = match compile(&json) {
            Ok(f) => f,
            Err(e) => {
                failures.push(format!("{name}: compile error {e}"));
                continue;
            }
        };
        let got = ids(&filter, &leads);
        if got != expected {
            failures.push(format!("{name}: expected {expected:?}, got {got:?}"));
        }
        let cond = filter.pushdown();
        for l in &leads {
            if filter.matches(l) && !cond.eval(&search_attributes(l)) {
                failures.push(format!("{name}: pushdown drops {}", l.id));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn is_empty_only_without_constraints() {
    for json in [
        json!({}),
        json!({"contact": {}}),
        json!({"contact": {"skill": {"any": {"include": []}}}}),
        json!({"account": {"employeeSize": {"type": "ALL"}}}),
        json!({"account": {"revenue": {"type": "RANGE"}}}),
    ] {
        let f = compile(&json).expect("valid");
        assert!(f.is_empty(), "{json}");
        assert_eq!(f.pushdown(), Cond::True, "{json}");
        assert!(f.lead_attributes().is_empty(), "{json}");
    }
    let f = compile(&json!({"account": {"revenue": {"type": "NONE"}}})).expect("valid");
    assert!(!f.is_empty());
}

#[test]
fn lead_attributes_name_what_is_read() {
    let f = compile(&json!({
        "contact": {"fullName": {"any": {"include": ["x"]}},
                    "experience": {"current": {"title": {"any": {"include": ["x"]}}}}},
        "account": {"type": {"any": {"include": ["x"]}}}
    }))
    .expect("valid");
    let want: BTreeSet<&str> = [
        "firstName",
        "lastName",
        "jobTitle",
        "workExperiences",
        "company",
    ]
    .into();
    assert_eq!(f.lead_attributes(), want);
}

/// The search attributes of `s_v` 2: each value once, multi-valued text
/// fields joined with U+001F before each value and after the last.
#[test]
fn search_attributes_of_a_lead() {
    let sf = &corpus()[0];
    let attrs = search_attributes(sf);
    let s = |v: &str| SearchValue::Str(v.to_string());
    let set = |vs: &[&str]| SearchValue::StrSet(vs.iter().map(|v| v.to_string()).collect());
    assert_eq!(SEARCH_VERSION, 2);
    assert_eq!(attrs[SEARCH_VERSION_ATTR], SearchValue::Num(2.0));
    assert_eq!(attrs["nm"], s("jane smith"));
    assert_eq!(attrs["sk"], s("\u{1f}leadership\u{1f}rust\u{1f}"));
    assert_eq!(attrs["ce"], s("\u{1f}aws solutions architect\u{1f}"));
    assert_eq!(attrs["lg"], s("\u{1f}english\u{1f}"));
    assert_eq!(
        attrs["sc"],
        s("\u{1f}stanford university\u{1f}uc berkeley\u{1f}")
    );
    assert_eq!(attrs["dg"], s("\u{1f}master of science\u{1f}ba\u{1f}"));
    assert_eq!(
        attrs["fs"],
        s("\u{1f}computer science\u{1f}economics\u{1f}")
    );
    assert_eq!(
        attrs["lo"],
        set(&["san francisco", "california", "ca", "united states", "us"])
    );
    assert_eq!(
        attrs["cl"],
        set(&["san francisco", "california", "ca", "united states", "us"])
    );
    assert_eq!(attrs["sn"], s("vp"));
    assert_eq!(
        attrs["dp"],
        set(&["engineering", "platform", "engineering management"])
    );
    // `jobTitle` and the current job hold the same title: stored once.
    assert_eq!(attrs["tc"], s("\u{1f}vp of engineering\u{1f}"));
    assert_eq!(attrs["tp"], s("\u{1f}software engineer\u{1f}"));
    assert_eq!(
        attrs["cc"],
        s("\u{1f}acme technologies inc.\u{1f}acme technologies\u{1f}")
    );
    assert_eq!(attrs["cp"], s("\u{1f}globex\u{1f}"));
    assert_eq!(
        attrs["cn"],
        s("\u{1f}acme technologies inc.\u{1f}acme technologies, inc.\u{1f}acmetech.com\u{1f}")
    );
    assert_eq!(attrs["in"], s("software development"));
    assert_eq!(attrs["ty"], s("PRIVATELY_HELD"));
    assert_eq!(attrs["hl"], SearchValue::Num(201.0));
    assert_eq!(attrs["hh"], SearchValue::Num(500.0));
    assert_eq!(attrs["rl"], SearchValue::Num(10e6));
    assert_eq!(attrs["rh"], SearchValue::Num(50e6));
    assert_eq!(attrs["fy"], SearchValue::Num(2015.0));
    assert_eq!(attrs.len(), 24, "{:?}", attrs.keys().collect::<Vec<_>>());

    let zh = search_attributes(&corpus()[1]);
    assert!(!zh.contains_key("hh"), "10,001+ has no upper bound");
    let bare = search_attributes(&corpus()[4]);
    let keys: Vec<&str> = bare.keys().map(String::as_str).collect();
    assert_eq!(keys, ["nm", "s_v"], "missing fields are omitted");
    let vp2 = search_attributes(&corpus()[8]);
    assert!(!vp2.contains_key("sk"), "empty lists are omitted");
}

/// A U+001F inside a value is stored as U+001E, so the separators of a
/// joined attribute are only separators; a term holding either is pushed
/// as an over-approximation (not exact), and still finds the lead.
#[test]
fn a_separator_inside_a_value_is_stood_in_for() {
    let mut l = corpus()[0].clone();
    l.skills = Some(vec!["a\u{1f}b".into(), "c".into()]);
    let attrs = search_attributes(&l);
    assert_eq!(
        attrs["sk"],
        SearchValue::Str("\u{1f}a\u{1e}b\u{1f}c\u{1f}".into())
    );
    for (mode_name, term, hits) in [
        ("STRICT", "a\u{1f}b", true),
        ("SMART", "a\u{1f}b", true),
        ("STRICT", "a", false),
        ("SMART", "b\u{1f}c", false),
        ("STRICT", "a\u{1e}b", false),
    ] {
        let f = compile(&contact("skill", any_inc(mode(mode_name, json!([term]))))).expect("valid");
        assert_eq!(f.matches(&l), hits, "{mode_name} {term:?}");
        let pushed = f.pushdown().eval(&attrs);
        assert!(pushed || !hits, "{mode_name} {term:?} dropped");
        if f.pushdown_exact() {
            assert_eq!(pushed, hits, "{mode_name} {term:?} claimed exact");
        }
    }
    let exact = |m: &str, t: &str| {
        compile(&contact("skill", any_inc(mode(m, json!([t])))))
            .expect("valid")
            .pushdown_exact()
    };
    assert!(exact("STRICT", "rust") && exact("SMART", "rust"));
    assert!(!exact("STRICT", "a\u{1f}b") && !exact("SMART", "a\u{1e}b"));
}

/// The previous layout (`s_v` 1), still produced to test that its items
/// read and match: each multi-valued field as a set and joined.
#[test]
fn search_attributes_v1_of_a_lead() {
    let sf = &corpus()[0];
    let attrs = search_attributes_v1(sf);
    let s = |v: &str| SearchValue::Str(v.to_string());
    let set = |vs: &[&str]| SearchValue::StrSet(vs.iter().map(|v| v.to_string()).collect());
    assert_eq!(attrs[SEARCH_VERSION_ATTR], SearchValue::Num(1.0));
    assert_eq!(attrs["s_name"], s("jane smith"));
    assert_eq!(attrs["s_sk"], set(&["leadership", "rust"]));
    assert_eq!(attrs["s_skj"], s("leadership\u{1f}rust"));
    assert_eq!(
        attrs["s_loc"],
        set(&["san francisco", "california", "ca", "united states", "us"])
    );
    assert_eq!(attrs["s_sen"], s("vp"));
    assert_eq!(
        attrs["s_dep"],
        set(&["engineering", "platform", "engineering management"])
    );
    assert_eq!(attrs["s_tc"], set(&["vp of engineering"]));
    assert_eq!(attrs["s_tp"], set(&["software engineer"]));
    assert_eq!(
        attrs["s_cc"],
        set(&["acme technologies inc.", "acme technologies"])
    );
    assert_eq!(attrs["s_cp"], set(&["globex"]));
    assert_eq!(
        attrs["s_cnd"],
        set(&[
            "acme technologies inc.",
            "acme technologies, inc.",
            "acmetech.com"
        ])
    );
    assert_eq!(attrs["s_ind"], s("software development"));
    assert_eq!(attrs["s_type"], s("PRIVATELY_HELD"));
    assert_eq!(attrs["s_hc_lo"], SearchValue::Num(201.0));
    assert_eq!(attrs["s_hc_hi"], SearchValue::Num(500.0));
    assert_eq!(attrs["s_rev_lo"], SearchValue::Num(10e6));
    assert_eq!(attrs["s_fy"], SearchValue::Num(2015.0));
    assert!(attrs.keys().all(|k| k.starts_with("s_")));

    let zh = search_attributes_v1(&corpus()[1]);
    assert!(!zh.contains_key("s_hc_hi"), "10,001+ has no upper bound");
    let bare = search_attributes_v1(&corpus()[4]);
    let keys: Vec<&str> = bare.keys().map(String::as_str).collect();
    assert_eq!(keys, ["s_name", "s_v"], "missing fields are omitted");
    let vp2 = search_attributes_v1(&corpus()[8]);
    assert!(!vp2.contains_key("s_sk"), "empty lists are omitted");
}

#[test]
fn pushdown_shapes() {
    let p = |v: Value| compile(&v).expect("valid").pushdown();
    let contains = |a: &str, v: &str| Cond::Contains {
        attr: a.into(),
        value: v.into(),
    };
    assert_eq!(
        p(contact("seniority", any_inc(json!(["CXO"])))),
        Cond::EqStr {
            attr: "sn".into(),
            value: "c_suite".into()
        }
    );
    assert_eq!(
        p(contact("location", any_inc(json!(["San Francisco, CA"])))),
        Cond::And(vec![contains("lo", "san francisco"), contains("lo", "ca")])
    );
    assert_eq!(
        p(contact("skill", any_exc(mode("STRICT", json!(["Rust"]))))),
        Cond::Not(Box::new(contains("sk", "\u{1f}rust\u{1f}")))
    );
    assert_eq!(
        p(contact("skill", any_exc(mode("WORD", json!(["Rust"]))))),
        Cond::True,
        "an inexact exclude pushes nothing"
    );
    assert_eq!(
        p(contact(
            "skill",
            any_inc(mode("WORD", json!(["machine learning"])))
        )),
        Cond::And(vec![contains("sk", "machine"), contains("sk", "learning")])
    );
    assert_eq!(
        p(account("employeeSize", json!({"type": "NONE"}))),
        Cond::NotExists("hl".into())
    );
    assert_eq!(
        p(account("employeeSize", range(json!([{}])))),
        Cond::Exists("hl".into())
    );
    assert_eq!(
        p(exp("any", "title", any_inc(json!(["cto"])))),
        Cond::Or(vec![contains("tc", "cto"), contains("tp", "cto")])
    );
    assert_eq!(p(contact("seniority", any_inc(json!([""])))), Cond::FALSE);

    assert_eq!(
        p(contact("skill", any_exc(json!(["Rust"])))),
        Cond::Not(Box::new(contains("sk", "rust"))),
        "SMART without the separator is exact over joined values"
    );
    assert_eq!(
        p(contact("skill", any_exc(json!(["a\u{1f}b"])))),
        Cond::True,
        "SMART holding the separator is not exact"
    );

    fn exp(tense: &str, sub: &str, f: Value) -> Value {
        contact("experience", json!({ tense: { sub: f } }))
    }
}

// ---------------------------------------------------------------- errors

fn error_of(v: Value) -> String {
    match compile(&v) {
        Ok(_) => panic!("expected an error for {v}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn error_messages_name_the_path() {
    let s = |v: Value| json!({"contact": {"skill": v}});
    let cases: Vec<(&str, Value, &str)> = vec![
        ("filters not an object", json!([]), "filters: expected an object"),
        ("filters a string", json!("x"), "filters: expected an object"),
        ("unknown section", json!({"people": {}}), "filters.people: unknown section (expected contact, account)"),
        ("section not an object", json!({"contact": "x"}), "filters.contact: expected an object"),
        ("unknown filter", json!({"contact": {"skil": {}}}), "filters.contact.skil: unknown filter"),
        ("unknown filter even when null", json!({"contact": {"skil": null}}), "filters.contact.skil: unknown filter"),
        ("contact key in account", json!({"account": {"skill": {}}}), "filters.account.skill: unknown filter"),
        ("account key in contact", json!({"contact": {"industry": {}}}), "filters.contact.industry: unknown filter"),
        ("prefixed key in the wrong section", json!({"account": {"contact.fullName": {}}}), "filters.account.contact.fullName: filter belongs to the contact section"),
        ("prefixed account key in contact", json!({"contact": {"account.location": {}}}), "filters.contact.account.location: filter belongs to the account section"),
        ("prefixed unknown key", json!({"contact": {"contact.skil": {}}}), "filters.contact.contact.skil: unknown filter"),
        ("filter not an object", s(json!("rust")), "filters.contact.skill: expected an object"),
        ("filter an array", s(json!(["rust"])), "filters.contact.skill: expected an object"),
        ("unknown part", s(json!({"anyy": {}})), "filters.contact.skill.anyy: unknown key (expected any, all)"),
        ("any not an object", s(json!({"any": []})), "filters.contact.skill.any: expected an object"),
        ("unknown side", s(json!({"any": {"includes": []}})), "filters.contact.skill.any.includes: unknown key (expected include, exclude)"),
        ("bad mode", s(any_inc(mode("FUZZY", json!(["x"])))), "filters.contact.skill.any.include.mode: unknown mode \"FUZZY\" (expected SMART, WORD or STRICT)"),
        ("mode not a string", s(all_exc(json!({"mode": 1, "content": []}))), "filters.contact.skill.all.exclude.mode: expected a string"),
        ("content not an array", s(any_inc(json!({"content": "rust"}))), "filters.contact.skill.any.include.content: expected an array"),
        ("number in content", s(any_inc(json!({"content": ["a", 2]}))), "filters.contact.skill.any.include.content[1]: expected a string"),
        ("unknown key in text part", s(any_inc(json!({"mode": "SMART", "contents": []}))), "filters.contact.skill.any.include.contents: unknown key (expected mode, content)"),
        ("text part a number", s(any_inc(json!(5))), "filters.contact.skill.any.include: expected an array or an object"),
        ("number in a list", contact("seniority", any_inc(json!(["vp", 3]))), "filters.contact.seniority.any.include[1]: expected a string"),
        ("null in a list", contact("seniority", any_exc(json!([null]))), "filters.contact.seniority.any.exclude[0]: expected a string"),
        ("list filter given a text part", contact("seniority", any_inc(mode("STRICT", json!(["vp"])))), "filters.contact.seniority.any.include: expected an array"),
        ("list filter given a string", account("industry", all_inc(json!("software"))), "filters.account.industry.all.include: expected an array"),
        ("range start a string", account("employeeSize", range(json!([{"start": 1}, {"start": "51"}]))), "filters.account.employeeSize.range[1].start: expected a number"),
        ("range end a bool", account("revenue", range(json!({"end": true}))), "filters.account.revenue.range.end: expected a number"),
        ("unknown range type", account("revenue", json!({"type": "SOME"})), "filters.account.revenue.type: unknown range type \"SOME\" (expected RANGE, ALL or NONE)"),
        ("range type not a string", account("revenue", json!({"type": 1})), "filters.account.revenue.type: expected a string"),
        ("range a string", account("employeeSize", range(json!("51-200"))), "filters.account.employeeSize.range: expected an object or an array"),
        ("range item a number", account("foundedYear", range(json!([2000]))), "filters.account.foundedYear.range[0]: expected an object"),
        ("range item unknown key", account("foundedYear", range(json!([{"from": 2000}]))), "filters.account.foundedYear.range[0].from: unknown key (expected start, end)"),
        ("range filter unknown key", account("foundedYear", json!({"ranges": []})), "filters.account.foundedYear.ranges: unknown key (expected type, range)"),
        ("range filter not an object", account("foundedYear", json!([2000])), "filters.account.foundedYear: expected an object"),
        ("range under ALL still validated", account("foundedYear", json!({"type": "ALL", "range": [{"start": "x"}]})), "filters.account.foundedYear.range[0].start: expected a number"),
        ("education unknown sub-filter", contact("education", json!({"college": {}})), "filters.contact.education.college: unknown filter (expected school, degree, fieldOfStudy)"),
        ("education not an object", contact("education", json!(["x"])), "filters.contact.education: expected an object"),
        ("education bad sub-filter", contact("education", json!({"school": {"any": {"include": [1]}}})), "filters.contact.education.school.any.include[0]: expected a string"),
        ("experience unknown tense", contact("experience", json!({"past": {}})), "filters.contact.experience.past: unknown filter (expected current, previous, any)"),
        ("experience unknown sub-filter", contact("experience", json!({"current": {"role": {}}})), "filters.contact.experience.current.role: unknown filter (expected title, company)"),
        ("experience tense not an object", contact("experience", json!({"current": []})), "filters.contact.experience.current: expected an object"),
        ("experience bad mode", contact("experience", json!({"any": {"company": {"any": {"include": {"mode": "EXACT"}}}}})), "filters.contact.experience.any.company.any.include.mode: unknown mode \"EXACT\" (expected SMART, WORD or STRICT)"),
    ];
    let mut failures = Vec::new();
    for (name, json, expected) in cases {
        match compile(&json) {
            Ok(_) => failures.push(format!("{name}: no error")),
            Err(e) if e.to_string() != expected => {
                failures.push(format!("{name}: got {e:?}, expected {expected:?}"))
            }
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn unsupported_reference_keys_are_rejected() {
    let keys = [
        "socialMediaLink",
        "socialMedia",
        "keyword",
        "profileBadge",
        "metric",
        "geoLocation",
        "funding",
        "technology",
    ];
    for section in ["contact", "account"] {
        for key in keys {
            let err = error_of(json!({ section: { key: {"any": {"include": ["x"]}} } }));
            assert_eq!(err, format!("filters.{section}.{key}: unsupported filter"));
            let prefixed = format!("{section}.{key}");
            let err = error_of(json!({ section: { &prefixed: null } }));
            assert_eq!(
                err,
                format!("filters.{section}.{prefixed}: unsupported filter")
            );
        }
    }
}

#[test]
fn filter_error_fields_and_display() {
    let e = compile(&json!({"contact": {"skil": {}}})).expect_err("unknown filter");
    assert_eq!(e.path, "filters.contact.skil");
    assert_eq!(e.message, "unknown filter");
    assert_eq!(e.to_string(), "filters.contact.skil: unknown filter");
    let boxed: Box<dyn std::error::Error> = Box::new(e);
    assert!(boxed.to_string().ends_with("unknown filter"));
}

#[test]
fn compiled_filter_is_send_sync_clone_debug() {
    fn check<T: Send + Sync + Clone + std::fmt::Debug>() {}
    check::<CompiledFilter>();
    check::<Cond>();
    check::<FilterError>();
}

// ---------------------------------------------------------------- properties

/// Keeps only the given top-level attributes of a lead, as a projection would.
fn project(lead: &Lead, keep: &BTreeSet<&'static str>) -> Lead {
    let Ok(Value::Object(mut map)) = serde_json::to_value(lead) else {
        panic!("a lead serializes to an object");
    };
    map.retain(|k, _| keep.contains(k.as_str()));
    serde_json::from_value(Value::Object(map)).expect("projection deserializes")
}

/// Arbitrary JSON whose keys are mostly real filter keys, to reach deep paths.
fn arb_json() -> impl Strategy<Value = Value> {
    let key = proptest::sample::select(
        &[
            "contact",
            "account",
            "fullName",
            "skill",
            "seniority",
            "location",
            "employeeSize",
            "revenue",
            "experience",
            "education",
            "current",
            "title",
            "school",
            "any",
            "all",
            "include",
            "exclude",
            "mode",
            "content",
            "type",
            "range",
            "start",
            "end",
            "contact.skill",
            "account.type",
            "x",
        ][..],
    );
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<f64>().prop_map(|f| json!(f)),
        any::<i64>().prop_map(|i| json!(i)),
        "[A-Za-z ,.]{0,6}".prop_map(Value::String),
        proptest::sample::select(&["SMART", "WORD", "STRICT", "NONE", "ALL", "RANGE"][..])
            .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(key.clone(), inner, 0..4).prop_map(|m| Value::Object(
                m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
            )),
        ]
    })
}

/// Random conditions over a few attributes, and random attributes.
fn arb_cond() -> impl Strategy<Value = Cond> {
    let attr = proptest::sample::select(&["a", "b", "n"][..]).prop_map(str::to_string);
    let value = proptest::sample::select(&["x", "y", "xy"][..]).prop_map(str::to_string);
    let leaf = prop_oneof![
        Just(Cond::True),
        Just(Cond::FALSE),
        (attr.clone(), value.clone()).prop_map(|(attr, value)| Cond::Contains { attr, value }),
        (attr.clone(), value).prop_map(|(attr, value)| Cond::EqStr { attr, value }),
        (attr.clone(), 0.0..3.0f64).prop_map(|(attr, value)| Cond::Le { attr, value }),
        (attr.clone(), 0.0..3.0f64).prop_map(|(attr, value)| Cond::Ge { attr, value }),
        attr.clone().prop_map(Cond::Exists),
        attr.prop_map(Cond::NotExists),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Cond::And),
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Cond::Or),
            inner.prop_map(|c| Cond::Not(Box::new(c))),
        ]
    })
}

fn arb_attrs() -> impl Strategy<Value = SearchAttrs> {
    let value = prop_oneof![
        proptest::sample::select(&["x", "xy", "y", "z"][..])
            .prop_map(|s| SearchValue::Str(s.into())),
        proptest::collection::btree_set(
            proptest::sample::select(&["x", "y", "xy"][..]).prop_map(str::to_string),
            1..3
        )
        .prop_map(SearchValue::StrSet),
        (0.0..3.0f64).prop_map(SearchValue::Num),
    ];
    proptest::collection::btree_map(
        proptest::sample::select(&["a", "b", "n"][..]).prop_map(str::to_string),
        value,
        0..3,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// matches(L) ⇒ pushdown().eval(search_attributes(L)), and simplify keeps the meaning.
    #[test]
    fn pushdown_is_sound(filter in arb_filter_json(), leads in proptest::collection::vec(arb_lead(), 16)) {
        let compiled = compile(&filter).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let cond = compiled.pushdown();
        let raw = compiled.pushdown_unsimplified();
        for lead in &leads {
            let attrs = search_attributes(lead);
            if compiled.matches(lead) {
                prop_assert!(cond.eval(&attrs), "dropped lead {:?}\nfilter {}\ncond {:?}\nattrs {:?}", lead, filter, cond, attrs);
            }
            prop_assert_eq!(raw.eval(&attrs), cond.eval(&attrs));
        }
    }

    /// Soundness key by key, where each key's corner cases are far more likely.
    #[test]
    fn pushdown_is_sound_per_key(filter in arb_single_filter_json(false), leads in proptest::collection::vec(arb_lead(), 16)) {
        let compiled = compile(&filter).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let cond = compiled.pushdown();
        for lead in &leads {
            if compiled.matches(lead) {
                prop_assert!(cond.eval(&search_attributes(lead)), "dropped lead {:?}\nfilter {}\ncond {:?}", lead, filter, cond);
            }
        }
    }

    /// Exactness key by key (STRICT text, list, location, range filters).
    #[test]
    fn pushdown_is_exact_per_key(filter in arb_single_filter_json(true), leads in proptest::collection::vec(arb_lead(), 16)) {
        let compiled = compile(&filter).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let cond = compiled.pushdown();
        for lead in &leads {
            prop_assert_eq!(compiled.matches(lead), cond.eval(&search_attributes(lead)), "filter {}\ncond {:?}", filter, cond);
        }
    }

    /// For list, location, seniority, type, industry, range and STRICT filters
    /// the push-down is exact.
    #[test]
    fn pushdown_is_exact_for_exact_kinds(filter in arb_exact_filter_json(), leads in proptest::collection::vec(arb_lead(), 16)) {
        let compiled = compile(&filter).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let cond = compiled.pushdown();
        for lead in &leads {
            let attrs = search_attributes(lead);
            prop_assert_eq!(compiled.matches(lead), cond.eval(&attrs),
                "lead {:?}\nfilter {}\ncond {:?}\nattrs {:?}", lead, filter, cond, attrs);
        }
    }

    /// Where `pushdown_exact()` says so, the push-down decides every lead
    /// exactly like `matches` (the store then counts such items without
    /// reading them).
    #[test]
    fn pushdown_exact_is_exact(filter in arb_filter_json(), leads in proptest::collection::vec(arb_lead(), 16)) {
        let compiled = compile(&filter).map_err(|e| TestCaseError::fail(e.to_string()))?;
        if compiled.pushdown_exact() {
            let cond = compiled.pushdown();
            for lead in &leads {
                prop_assert_eq!(compiled.matches(lead), cond.eval(&search_attributes(lead)),
                    "lead {:?}\nfilter {}\ncond {:?}", lead, filter, cond);
            }
        }
    }

    /// The same, key by key, where each key's corner cases are likelier.
    #[test]
    fn pushdown_exact_is_exact_per_key(filter in arb_single_filter_json(false), leads in proptest::collection::vec(arb_lead(), 16)) {
        let compiled = compile(&filter).map_err(|e| TestCaseError::fail(e.to_string()))?;
        if compiled.pushdown_exact() {
            let cond = compiled.pushdown();
            for lead in &leads {
                prop_assert_eq!(compiled.matches(lead), cond.eval(&search_attributes(lead)),
                    "lead {:?}\nfilter {}\ncond {:?}", lead, filter, cond);
            }
        }
    }

    /// matches on the lead restricted to lead_attributes() equals matches on the full lead.
    #[test]
    fn lead_attributes_are_complete(filter in arb_filter_json(), leads in proptest::collection::vec(arb_lead(), 16)) {
        let compiled = compile(&filter).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let keep = compiled.lead_attributes();
        for lead in &leads {
            prop_assert_eq!(compiled.matches(lead), compiled.matches(&project(lead, &keep)),
                "filter {} keep {:?}", filter, keep);
        }
    }

    /// simplify() preserves eval on arbitrary conditions.
    #[test]
    fn simplify_preserves_eval(cond in arb_cond(), attrs in arb_attrs()) {
        prop_assert_eq!(cond.clone().simplify().eval(&attrs), cond.eval(&attrs));
    }

    /// No JSON input panics; errors always carry a path under `filters`.
    #[test]
    fn compile_never_panics(value in arb_json()) {
        match compile(&value) {
            Ok(f) => { let _ = f.pushdown(); }
            Err(e) => prop_assert!(e.path.starts_with("filters"), "{}", e),
        }
    }
}

/// The generators are not vacuous: over a sample, filters do match some leads
/// and reject others.
#[test]
fn generators_produce_matches_and_misses() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut hits, mut misses) = (0, 0);
    for _ in 0..300 {
        let filter = arb_filter_json()
            .new_tree(&mut runner)
            .expect("tree")
            .current();
        let lead = arb_lead().new_tree(&mut runner).expect("tree").current();
        let compiled = compile(&filter).expect("generated filters are valid");
        if compiled.is_empty() {
            continue;
        }
        if compiled.matches(&lead) {
            hits += 1;
        } else {
            misses += 1;
        }
    }
    assert!(hits >= 20 && misses >= 20, "hits {hits}, misses {misses}");
}

/// `pushdown_exact` is not vacuous: it holds for most filters of the exact
/// kinds (not all: tiny range bounds are widened), for some mixed filters,
/// and never for a `WORD` term.
#[test]
fn pushdown_exact_flags_exact_kinds_and_not_word_terms() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let sample = |runner: &mut TestRunner, strategy: &dyn Fn(&mut TestRunner) -> Value| {
        compile(&strategy(runner)).expect("generated filters are valid")
    };
    let exact_kinds = |r: &mut TestRunner| arb_exact_filter_json().new_tree(r).unwrap().current();
    let any = |r: &mut TestRunner| arb_filter_json().new_tree(r).unwrap().current();
    let flagged = (0..300)
        .filter(|_| sample(&mut runner, &exact_kinds).pushdown_exact())
        .count();
    assert!(
        flagged >= 270,
        "{flagged} of 300 exact-kind filters flagged exact"
    );
    let mixed: Vec<bool> = (0..300)
        .map(|_| sample(&mut runner, &any).pushdown_exact())
        .collect();
    let yes = mixed.iter().filter(|e| **e).count();
    assert!(
        (30..=270).contains(&yes),
        "{yes} of 300 mixed filters flagged exact"
    );
    let word = compile(&contact("skill", any_inc(mode("WORD", json!(["rust"]))))).unwrap();
    assert!(!word.pushdown_exact());
    let strict = compile(&contact("skill", any_inc(mode("STRICT", json!(["rust"]))))).unwrap();
    assert!(strict.pushdown_exact());
    let tiny = compile(&account("revenue", range(json!({"start": 1e-9})))).unwrap();
    assert!(!tiny.pushdown_exact(), "a widened bound is not exact");
    let word_exclude = compile(&contact("skill", any_exc(mode("WORD", json!(["rust"]))))).unwrap();
    assert!(
        !word_exclude.pushdown_exact(),
        "an exclude left out is not exact"
    );
    assert!(compile(&json!({})).unwrap().pushdown_exact());
}
