//! The normalized `s_*` search attributes stored beside each lead, and which
//! attribute holds what.
//!
//! | attribute | kind | holds |
//! |---|---|---|
//! | `s_v` | N | [`SEARCH_VERSION`] |
//! | `s_name` | S | normalized `firstName + " " + lastName` |
//! | `s_sk`, `s_skj` | SS, S | skills (set; values joined by U+001F) |
//! | `s_lang`, `s_langj` | SS, S | `languages[].language` |
//! | `s_cert`, `s_certj` | SS, S | certifications |
//! | `s_sch`, `s_schj` | SS, S | `educations[].institution.name` |
//! | `s_deg`, `s_degj` | SS, S | `educations[].degreeName` |
//! | `s_fos`, `s_fosj` | SS, S | `educations[].fieldOfStudy` |
//! | `s_tc`, `s_tcj` | SS, S | current titles (`jobTitle` + jobs without end date) |
//! | `s_tp`, `s_tpj` | SS, S | previous titles (jobs with an end date) |
//! | `s_cc`, `s_ccj` | SS, S | current employers (`company.name` + jobs without end date) |
//! | `s_cp`, `s_cpj` | SS, S | previous employers |
//! | `s_cnd`, `s_cndj` | SS, S | company name, legal name, bare host of domain and of website URL |
//! | `s_loc` | SS | person location parts (city, state, state code, country, country code) |
//! | `s_cloc` | SS | company HQ location parts |
//! | `s_sen` | S | canonical seniority slug |
//! | `s_dep` | SS | departments ∪ sub-departments ∪ functions (`_`/`-` as spaces) |
//! | `s_ind` | S | company industry |
//! | `s_type` | S | canonical company type |
//! | `s_hc_lo`, `s_hc_hi` | N | parsed headcount bounds (`hi` absent when open-ended) |
//! | `s_rev_lo`, `s_rev_hi` | N | parsed revenue bounds in dollars (`hi` absent when open-ended) |
//! | `s_fy` | N | founded year |
//!
//! Every string is normalized like the filter terms; an attribute whose value
//! would be empty or unknown is omitted.

use std::collections::BTreeSet;

use super::values::{
    list_values, location_parts, range_value, text_values, ListField, Place, RangeField, Tense,
    TextField,
};
use super::{SearchAttrs, SearchValue, SEARCH_VERSION, SEARCH_VERSION_ATTR};
use crate::model::Lead;

/// Separator of the values in a joined (`…j`) attribute.
pub(crate) const SEP: char = '\u{1f}';

/// Where a text field's values are stored.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Store {
    /// One string attribute (single-valued field).
    Single(&'static str),
    /// A string set of the values and a string of the values joined by [`SEP`].
    Multi {
        set: &'static str,
        joined: &'static str,
    },
}

const TITLE_CURRENT: Store = Store::Multi {
    set: "s_tc",
    joined: "s_tcj",
};
const TITLE_PREVIOUS: Store = Store::Multi {
    set: "s_tp",
    joined: "s_tpj",
};
const EMPLOYER_CURRENT: Store = Store::Multi {
    set: "s_cc",
    joined: "s_ccj",
};
const EMPLOYER_PREVIOUS: Store = Store::Multi {
    set: "s_cp",
    joined: "s_cpj",
};

/// The stores holding a text field's values (their union, for `any` tense).
pub(crate) fn text_stores(field: TextField) -> &'static [Store] {
    match field {
        TextField::FullName => &[Store::Single("s_name")],
        TextField::Skill => &[Store::Multi {
            set: "s_sk",
            joined: "s_skj",
        }],
        TextField::Language => &[Store::Multi {
            set: "s_lang",
            joined: "s_langj",
        }],
        TextField::Certification => &[Store::Multi {
            set: "s_cert",
            joined: "s_certj",
        }],
        TextField::School => &[Store::Multi {
            set: "s_sch",
            joined: "s_schj",
        }],
        TextField::Degree => &[Store::Multi {
            set: "s_deg",
            joined: "s_degj",
        }],
        TextField::FieldOfStudy => &[Store::Multi {
            set: "s_fos",
            joined: "s_fosj",
        }],
        TextField::Title(Tense::Current) => &[TITLE_CURRENT],
        TextField::Title(Tense::Previous) => &[TITLE_PREVIOUS],
        TextField::Title(Tense::Any) => &[TITLE_CURRENT, TITLE_PREVIOUS],
        TextField::Employer(Tense::Current) => &[EMPLOYER_CURRENT],
        TextField::Employer(Tense::Previous) => &[EMPLOYER_PREVIOUS],
        TextField::Employer(Tense::Any) => &[EMPLOYER_CURRENT, EMPLOYER_PREVIOUS],
        TextField::NameOrDomain => &[Store::Multi {
            set: "s_cnd",
            joined: "s_cndj",
        }],
    }
}

/// The attribute of a list field, and whether it is a single string (else a set).
pub(crate) fn list_attr(field: ListField) -> (&'static str, bool) {
    match field {
        ListField::Seniority => ("s_sen", true),
        ListField::Department => ("s_dep", false),
        ListField::Industry => ("s_ind", true),
        ListField::CompanyType => ("s_type", true),
    }
}

/// The string-set attribute of a location.
pub(crate) fn place_attr(place: Place) -> &'static str {
    match place {
        Place::Person => "s_loc",
        Place::Company => "s_cloc",
    }
}

/// The `lo` and `hi` number attributes of a range field.
pub(crate) fn range_attrs(field: RangeField) -> (&'static str, &'static str) {
    match field {
        RangeField::Headcount => ("s_hc_lo", "s_hc_hi"),
        RangeField::Revenue => ("s_rev_lo", "s_rev_hi"),
        RangeField::FoundedYear => ("s_fy", "s_fy"),
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

fn put_set(attrs: &mut SearchAttrs, name: &str, values: &[String]) {
    let set: BTreeSet<String> = values.iter().cloned().collect();
    if !set.is_empty() {
        attrs.insert(name.to_string(), SearchValue::StrSet(set));
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
            [Store::Multi { set, joined }] => {
                put_set(&mut attrs, set, &values);
                let joined_value = values.join(&SEP.to_string());
                attrs.insert(joined.to_string(), SearchValue::Str(joined_value));
            }
            _ => {}
        }
    }
    for field in [
        ListField::Seniority,
        ListField::Department,
        ListField::Industry,
        ListField::CompanyType,
    ] {
        let values = list_values(field, lead);
        match (list_attr(field), values.first()) {
            ((name, true), Some(v)) => {
                attrs.insert(name.to_string(), SearchValue::Str(v.clone()));
            }
            ((name, false), _) => put_set(&mut attrs, name, &values),
            (_, None) => {}
        }
    }
    for place in [Place::Person, Place::Company] {
        put_set(&mut attrs, place_attr(place), &location_parts(place, lead));
    }
    for field in [
        RangeField::Headcount,
        RangeField::Revenue,
        RangeField::FoundedYear,
    ] {
        if let Some((lo, hi)) = range_value(field, lead) {
            let (lo_name, hi_name) = range_attrs(field);
            attrs.insert(lo_name.to_string(), SearchValue::Num(lo));
            if hi.is_finite() {
                attrs.insert(hi_name.to_string(), SearchValue::Num(hi));
            }
        }
    }
    attrs
}
