//! The normalized search attributes stored beside each lead, and which
//! attribute holds what.
//!
//! Version 2 (written today; [`SEARCH_VERSION`]), each value stored once, in
//! the form the push-down reads:
//!
//! | attribute | kind | holds |
//! |---|---|---|
//! | `s_v` | N | [`SEARCH_VERSION`] |
//! | `nm` | S | normalized `firstName + " " + lastName` |
//! | `sk` | S… | skills |
//! | `lg` | S… | `languages[].language` |
//! | `ce` | S… | certifications |
//! | `sc` | S… | `educations[].institution.name` |
//! | `dg` | S… | `educations[].degreeName` |
//! | `fs` | S… | `educations[].fieldOfStudy` |
//! | `tc` | S… | current titles (`jobTitle` + jobs without end date) |
//! | `tp` | S… | previous titles (jobs with an end date) |
//! | `cc` | S… | current employers (`company.name` + jobs without end date) |
//! | `cp` | S… | previous employers |
//! | `cn` | S… | company name, legal name, bare host of domain and of website URL |
//! | `lo` | SS | person location parts (city, state, state code, country, country code) |
//! | `cl` | SS | company HQ location parts |
//! | `sn` | S | canonical seniority slug |
//! | `dp` | SS | departments ∪ sub-departments ∪ functions (`_`/`-` as spaces) |
//! | `in` | S | company industry |
//! | `ty` | S | canonical company type |
//! | `hl`, `hh` | N | parsed headcount bounds (`hh` absent when open-ended) |
//! | `rl`, `rh` | N | parsed revenue bounds in dollars (`rh` absent when open-ended) |
//! | `fy` | N | founded year |
//!
//! `S…` is a *joined* string: the distinct values in order, each preceded
//! and the last one followed by U+001F ([`SEP`]), a U+001F inside a value
//! written as U+001E ([`SEP_STAND_IN`]). A `SMART` term is a `contains` of the
//! term, a `STRICT` one a `contains` of the term between separators.
//!
//! Version 1 (the earlier layout, still read: an item of an older version is
//! decided by the Rust predicate alone) stored each multi-valued field twice,
//! a string set and the values joined by U+001F, under longer names; see
//! [`search_attributes_v1`].
//!
//! Every string is normalized like the filter terms; an attribute whose value
//! would be empty or unknown is omitted.

use std::collections::BTreeSet;

use super::values::{
    list_values, location_parts, range_value, text_values, ListField, Place, RangeField, Tense,
    TextField,
};
use super::{SearchAttrs, SearchValue, SEARCH_VERSION, SEARCH_VERSION_ATTR};
use crate::model::{Lead, Text};

/// Separator of the values in a joined attribute.
pub(crate) const SEP: char = '\u{1f}';

/// What a [`SEP`] inside a value is stored as, so that the separators of a
/// joined attribute are only separators.
pub(crate) const SEP_STAND_IN: char = '\u{1e}';

/// Where a text field's values are stored.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Store {
    /// One string attribute (single-valued field).
    Single(&'static str),
    /// A joined string attribute (see the module documentation).
    Joined(&'static str),
}

const TITLE_CURRENT: Store = Store::Joined("tc");
const TITLE_PREVIOUS: Store = Store::Joined("tp");
const EMPLOYER_CURRENT: Store = Store::Joined("cc");
const EMPLOYER_PREVIOUS: Store = Store::Joined("cp");

/// The stores holding a text field's values (their union, for `any` tense).
pub(crate) fn text_stores(field: TextField) -> &'static [Store] {
    match field {
        TextField::FullName => &[Store::Single("nm")],
        TextField::Skill => &[Store::Joined("sk")],
        TextField::Language => &[Store::Joined("lg")],
        TextField::Certification => &[Store::Joined("ce")],
        TextField::School => &[Store::Joined("sc")],
        TextField::Degree => &[Store::Joined("dg")],
        TextField::FieldOfStudy => &[Store::Joined("fs")],
        TextField::Title(Tense::Current) => &[TITLE_CURRENT],
        TextField::Title(Tense::Previous) => &[TITLE_PREVIOUS],
        TextField::Title(Tense::Any) => &[TITLE_CURRENT, TITLE_PREVIOUS],
        TextField::Employer(Tense::Current) => &[EMPLOYER_CURRENT],
        TextField::Employer(Tense::Previous) => &[EMPLOYER_PREVIOUS],
        TextField::Employer(Tense::Any) => &[EMPLOYER_CURRENT, EMPLOYER_PREVIOUS],
        TextField::NameOrDomain => &[Store::Joined("cn")],
    }
}

/// The attribute of a list field, and whether it is a single string (else a set).
pub(crate) fn list_attr(field: ListField) -> (&'static str, bool) {
    match field {
        ListField::Seniority => ("sn", true),
        ListField::Department => ("dp", false),
        ListField::Industry => ("in", true),
        ListField::CompanyType => ("ty", true),
    }
}

/// The string-set attribute of a location.
pub(crate) fn place_attr(place: Place) -> &'static str {
    match place {
        Place::Person => "lo",
        Place::Company => "cl",
    }
}

/// The `lo` and `hi` number attributes of a range field.
pub(crate) fn range_attrs(field: RangeField) -> (&'static str, &'static str) {
    match field {
        RangeField::Headcount => ("hl", "hh"),
        RangeField::Revenue => ("rl", "rh"),
        RangeField::FoundedYear => ("fy", "fy"),
    }
}

const STORED_TEXT_FIELDS: [TextField; 12] = [
    TextField::FullName,
    TextField::Skill,
    TextField::Language,
    TextField::Certification,
    TextField::School,
    TextField::Degree,
    TextField::FieldOfStudy,
    TextField::Title(Tense::Current),
    TextField::Title(Tense::Previous),
    TextField::Employer(Tense::Current),
    TextField::Employer(Tense::Previous),
    TextField::NameOrDomain,
];

const LIST_FIELDS: [ListField; 4] = [
    ListField::Seniority,
    ListField::Department,
    ListField::Industry,
    ListField::CompanyType,
];

const RANGE_FIELDS: [RangeField; 3] = [
    RangeField::Headcount,
    RangeField::Revenue,
    RangeField::FoundedYear,
];

/// `text` with every [`SEP`] written as [`SEP_STAND_IN`] (as a joined
/// attribute stores a value, and as the push-down looks a term up).
pub(crate) fn stand_in(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains(SEP) {
        std::borrow::Cow::Owned(text.replace(SEP, &SEP_STAND_IN.to_string()))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// The joined form of `values`: each distinct value (first occurrence
/// first) preceded by [`SEP`], and a final [`SEP`].
pub(crate) fn joined(values: &[Text]) -> String {
    let mut out = String::with_capacity(values.iter().map(|v| v.len() + 1).sum::<usize>() + 1);
    let mut seen = BTreeSet::new();
    for value in values {
        if seen.insert(value.as_str()) {
            out.push(SEP);
            out.push_str(&stand_in(value));
        }
    }
    out.push(SEP);
    out
}

fn put_set(attrs: &mut SearchAttrs, name: &str, values: &[Text]) {
    let set: BTreeSet<String> = values.iter().map(|v| v.to_string()).collect();
    if !set.is_empty() {
        attrs.insert(name.to_string(), SearchValue::StrSet(set));
    }
}

/// The list, location and range attributes (the same kinds in both
/// versions), under the names `list`, `place` and `range` give.
fn put_common(
    attrs: &mut SearchAttrs,
    lead: &Lead,
    list: impl Fn(ListField) -> (&'static str, bool),
    place: impl Fn(Place) -> &'static str,
    range: impl Fn(RangeField) -> (&'static str, &'static str),
) {
    for field in LIST_FIELDS {
        let values = list_values(field, lead);
        match (list(field), values.first()) {
            ((name, true), Some(v)) => {
                attrs.insert(name.to_string(), SearchValue::Str(v.to_string()));
            }
            ((name, false), _) => put_set(attrs, name, &values),
            (_, None) => {}
        }
    }
    for p in [Place::Person, Place::Company] {
        put_set(attrs, place(p), &location_parts(p, lead));
    }
    for field in RANGE_FIELDS {
        if let Some((lo, hi)) = range_value(field, lead) {
            let (lo_name, hi_name) = range(field);
            attrs.insert(lo_name.to_string(), SearchValue::Num(lo));
            if hi.is_finite() {
                attrs.insert(hi_name.to_string(), SearchValue::Num(hi));
            }
        }
    }
}

/// The normalized search attributes of a lead (see the module table), with
/// [`SEARCH_VERSION_ATTR`] set to [`SEARCH_VERSION`].
pub fn search_attributes(lead: &Lead) -> SearchAttrs {
    let mut attrs = SearchAttrs::new();
    attrs.insert(
        SEARCH_VERSION_ATTR.to_string(),
        SearchValue::Num(SEARCH_VERSION as f64),
    );
    for field in STORED_TEXT_FIELDS {
        let values = text_values(field, lead);
        if values.is_empty() {
            continue;
        }
        match text_stores(field) {
            [Store::Single(name)] => {
                attrs.insert(name.to_string(), SearchValue::Str(values.join(" ")));
            }
            [Store::Joined(name)] => {
                attrs.insert(name.to_string(), SearchValue::Str(joined(&values)));
            }
            _ => {}
        }
    }
    put_common(&mut attrs, lead, list_attr, place_attr, range_attrs);
    attrs
}

/// The search attributes of a lead as version 1 wrote them (`s_v` 1): each
/// multi-valued text field as a string set and as its values joined by
/// U+001F, under `s_…` names. Written only to test that items of that
/// version still read and match.
pub fn search_attributes_v1(lead: &Lead) -> SearchAttrs {
    let mut attrs = SearchAttrs::new();
    attrs.insert(SEARCH_VERSION_ATTR.to_string(), SearchValue::Num(1.0));
    let stores: [(&str, &str); 12] = [
        ("s_name", ""),
        ("s_sk", "s_skj"),
        ("s_lang", "s_langj"),
        ("s_cert", "s_certj"),
        ("s_sch", "s_schj"),
        ("s_deg", "s_degj"),
        ("s_fos", "s_fosj"),
        ("s_tc", "s_tcj"),
        ("s_tp", "s_tpj"),
        ("s_cc", "s_ccj"),
        ("s_cp", "s_cpj"),
        ("s_cnd", "s_cndj"),
    ];
    for (field, (set, joined_name)) in STORED_TEXT_FIELDS.into_iter().zip(stores) {
        let values = text_values(field, lead);
        if values.is_empty() {
            continue;
        }
        if joined_name.is_empty() {
            attrs.insert(set.to_string(), SearchValue::Str(values.join(" ")));
        } else {
            put_set(&mut attrs, set, &values);
            let joined_value = values.join(&SEP.to_string());
            attrs.insert(joined_name.to_string(), SearchValue::Str(joined_value));
        }
    }
    put_common(
        &mut attrs,
        lead,
        |field| match field {
            ListField::Seniority => ("s_sen", true),
            ListField::Department => ("s_dep", false),
            ListField::Industry => ("s_ind", true),
            ListField::CompanyType => ("s_type", true),
        },
        |place| match place {
            Place::Person => "s_loc",
            Place::Company => "s_cloc",
        },
        |field| match field {
            RangeField::Headcount => ("s_hc_lo", "s_hc_hi"),
            RangeField::Revenue => ("s_rev_lo", "s_rev_hi"),
            RangeField::FoundedYear => ("s_fy", "s_fy"),
        },
    );
    attrs
}
