//! Text normalization and the canonical forms every comparison uses.
//!
//! The same functions normalize filter terms (once, at compile time), lead
//! values (in `matches`) and the stored search attributes, so the three always
//! agree.

use unicode_normalization::char::is_combining_mark;

use crate::model::Text;
use unicode_normalization::UnicodeNormalization;

/// Unicode NFKD, combining marks dropped, lowercase, runs of whitespace
/// collapsed to one space, trimmed. A [`Text`]: a lead's values are
/// normalized for every lead a filter re-checks, and most are short enough
/// to stay inline (no allocation).
pub(crate) fn norm(s: &str) -> Text {
    const INLINE: usize = 24;
    if s.is_ascii() && s.len() <= INLINE {
        // Short ASCII (most values): composed on the stack, kept inline.
        // Each byte out stands for one byte in, so `n` stays within.
        let mut buf = [0u8; INLINE];
        let mut n = 0;
        let mut space = false;
        for &b in s.as_bytes() {
            if char::from(b).is_whitespace() {
                space = n > 0;
            } else {
                if space {
                    buf[n] = b' ';
                    n += 1;
                    space = false;
                }
                buf[n] = b.to_ascii_lowercase();
                n += 1;
            }
        }
        return Text::from(std::str::from_utf8(&buf[..n]).unwrap_or_default());
    }
    Text::from(norm_string(s))
}

/// [`norm`] into a `String`: the text of any length.
fn norm_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    let mut push = |c: char, out: &mut String| {
        if c.is_whitespace() {
            space = !out.is_empty();
        } else {
            if space {
                out.push(' ');
                space = false;
            }
            out.push(c);
        }
    };
    if s.is_ascii() {
        for c in s.chars() {
            push(c.to_ascii_lowercase(), &mut out);
        }
    } else {
        for c in s
            .nfkd()
            .filter(|c| !is_combining_mark(*c))
            .flat_map(char::to_lowercase)
            .filter(|c| !is_combining_mark(*c))
        {
            push(c, &mut out);
        }
    }
    out
}

/// The words of a normalized string: maximal runs of letters and digits.
pub(crate) fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// Normalizes, then reads `_` and `-` as spaces (department and function
/// slugs and labels compare this way; also the first step of enum slugs).
pub(crate) fn norm_spaced(s: &str) -> Text {
    let n = norm(s);
    if n.contains(['_', '-']) {
        norm(&n.replace(['_', '-'], " "))
    } else {
        n
    }
}

/// Canonical seniority slug (`"C-Suite"` → `c_suite`, `"Vice President"` →
/// `vp`, ...). Unknown values become a slug of themselves, so they still
/// compare equal to their own spellings and match nothing else.
pub(crate) fn seniority(s: &str) -> Text {
    let key = norm_spaced(s);
    let slug = match key.as_str() {
        "c suite" | "csuite" | "cxo" | "c level" | "clevel" => "c_suite",
        "vp" | "vice president" | "v p" => "vp",
        "mid level" | "midlevel" | "mid" => "mid_level",
        "entry level" | "entry" => "entry",
        "co founder" | "cofounder" => "founder",
        _ if !key.contains(' ') => return key,
        _ => return key.replace(' ', "_").into(),
    };
    slug.into()
}

/// Canonical company type (`PUBLIC_COMPANY`, ...): upper-case slugs, with the
/// common display forms mapped to them.
pub(crate) fn company_type(s: &str) -> Text {
    let key = norm_spaced(s);
    let slug = match key.as_str() {
        "public" | "public company" | "publicly held" | "publicly traded" => "PUBLIC_COMPANY",
        "private" | "privately held" | "private company" => "PRIVATELY_HELD",
        "nonprofit" | "non profit" | "non profit organization" | "nonprofit organization" => {
            "NON_PROFIT"
        }
        "educational" | "education" | "educational institution" => "EDUCATIONAL",
        "government" | "government agency" => "GOVERNMENT_AGENCY",
        _ => return key.replace(' ', "_").to_uppercase().into(),
    };
    slug.into()
}

/// The normalized, non-empty comma-separated components of a location term
/// or of a lead's location part (`"San Francisco, CA"` → `san francisco`, `ca`).
pub(crate) fn location_components(s: &str) -> impl Iterator<Item = Text> + '_ {
    s.split(',').map(norm).filter(|c| !c.is_empty())
}

/// True when a normalized term looks like a domain or a URL
/// (`acme.com`, `www.acme.com`, `https://www.acme.com/x`).
pub(crate) fn looks_like_domain(t: &str) -> bool {
    if t.contains("://") || t.starts_with("www.") {
        return true;
    }
    if t.contains(' ') {
        return false;
    }
    let host = t.split(['/', '?', '#']).next().unwrap_or_default();
    let labels = host.split('.');
    let mut count = 0;
    let mut last = "";
    for label in labels {
        if label.is_empty() || !label.chars().all(|c| c.is_alphanumeric() || c == '-') {
            return false;
        }
        count += 1;
        last = label;
    }
    count >= 2 && last.chars().any(char::is_alphabetic)
}

/// The bare host of a normalized domain or URL: scheme, user info, port,
/// path, query and a leading `www.` dropped (`https://www.acme.com/x` →
/// `acme.com`). A plain domain comes back unchanged.
pub(crate) fn bare_host(s: &str) -> String {
    let rest = s.split_once("://").map_or(s, |(_, r)| r);
    let rest = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let rest = match rest.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => rest,
    };
    let rest = rest.trim_end_matches('.');
    rest.strip_prefix("www.").unwrap_or(rest).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The stack path for short ASCII text gives what the general
        /// path gives (ASCII whitespace includes the vertical tab here, as
        /// `char::is_whitespace` does).
        #[test]
        fn short_ascii_text_normalizes_as_any_text(s in "[ -~\t\n\x0b\x0c\r]{0,30}") {
            let (fast, general) = (norm(&s), norm_string(&s));
            proptest::prop_assert_eq!(fast.as_str(), general.as_str());
        }
    }

    #[test]
    fn norm_folds_accents_case_and_whitespace() {
        assert_eq!(norm("  Zürich \t CITY\n"), "zurich city");
        assert_eq!(norm("ZÜRICH"), "zurich");
        assert_eq!(norm("ﬁne"), "fine");
        assert_eq!(norm(""), "");
        assert_eq!(norm(" \u{a0} "), "");
    }

    #[test]
    fn words_split_on_non_alphanumerics() {
        let w: Vec<_> = words("vp of eng-ineering, c++ 2").collect();
        assert_eq!(w, ["vp", "of", "eng", "ineering", "c", "2"]);
    }

    #[test]
    fn enum_canonicalization() {
        for s in ["C-Suite", "c suite", "CXO", "c_suite"] {
            assert_eq!(seniority(s), "c_suite", "{s}");
        }
        for s in ["VP", "Vice President", "vp"] {
            assert_eq!(seniority(s), "vp", "{s}");
        }
        for s in ["Mid Level", "mid-level", "mid_level"] {
            assert_eq!(seniority(s), "mid_level", "{s}");
        }
        assert_eq!(seniority("Galactic Emperor"), "galactic_emperor");
        for s in ["Public Company", "public", "PUBLIC_COMPANY"] {
            assert_eq!(company_type(s), "PUBLIC_COMPANY", "{s}");
        }
        assert_eq!(company_type("privately held"), "PRIVATELY_HELD");
        assert_eq!(company_type("Self-Employed"), "SELF_EMPLOYED");
        assert_eq!(norm_spaced("human_resources"), "human resources");
    }

    #[test]
    fn domains_and_hosts() {
        assert!(looks_like_domain("acme.com"));
        assert!(looks_like_domain("https://www.acme.com/x"));
        assert!(looks_like_domain("www.acme"));
        assert!(!looks_like_domain("acme inc."));
        assert!(!looks_like_domain("3.5"));
        assert!(!looks_like_domain("acme"));
        assert_eq!(bare_host("https://www.acme.com/x?y#z"), "acme.com");
        assert_eq!(bare_host("http://user@www.acme.com:8080"), "acme.com");
        assert_eq!(bare_host("www.acme.com"), "acme.com");
        assert_eq!(bare_host("acme.com"), "acme.com");
    }

    #[test]
    fn location_components_split_and_normalize() {
        let c: Vec<_> = location_components(" San  Francisco , CA,").collect();
        assert_eq!(c, ["san francisco", "ca"]);
    }
}
