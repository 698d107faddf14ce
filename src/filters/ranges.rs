//! Parsing of the company's headcount and revenue strings into `[lo, hi]`.
//!
//! `hi` is `f64::INFINITY` for open-ended values (`"10,001+"`, `"$1B+"`).
//! Anything that does not parse is unknown (`None`).

/// `"51-200"`, `"5,001-10,000"`, `"10,001+"`, `"1001-5000 employees"`, `"25"`.
pub(crate) fn parse_headcount(s: &str) -> Option<(f64, f64)> {
    let compact = compact(s);
    let compact = ["employees", "employee"]
        .iter()
        .find_map(|suffix| compact.strip_suffix(suffix))
        .unwrap_or(&compact);
    parse_span(compact)
}

/// `"$10M - $50M"`, `"$500K - $1M"`, `"$1B+"`, `"<$1M"` (= `[0, 1e6]`), in dollars.
pub(crate) fn parse_revenue(s: &str) -> Option<(f64, f64)> {
    parse_span(&compact(s))
}

/// Lowercase, without whitespace or thousands separators, dashes unified.
fn compact(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != ',')
        .map(|c| match c {
            '\u{2013}' | '\u{2014}' => '-',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

fn parse_span(s: &str) -> Option<(f64, f64)> {
    let (lo, hi) = if let Some(rest) = s.strip_prefix('<') {
        (0.0, amount(rest)?)
    } else if let Some(rest) = s.strip_suffix('+') {
        (amount(rest)?, f64::INFINITY)
    } else if let Some((a, b)) = s.split_once('-') {
        (amount(a)?, amount(b)?)
    } else {
        let x = amount(s)?;
        (x, x)
    };
    (lo <= hi).then_some((lo, hi))
}

/// `"$10m"`, `"500k"`, `"1.5b"`, `"200"`.
fn amount(s: &str) -> Option<f64> {
    let s = s.strip_prefix('$').unwrap_or(s);
    let (digits, factor) = match s.as_bytes().last()? {
        b'k' => (&s[..s.len() - 1], 1e3),
        b'm' => (&s[..s.len() - 1], 1e6),
        b'b' => (&s[..s.len() - 1], 1e9),
        _ => (s, 1.0),
    };
    let valid = digits.chars().any(|c| c.is_ascii_digit())
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.');
    let x: f64 = if valid {
        digits.parse().ok()?
    } else {
        return None;
    };
    let x = x * factor;
    x.is_finite().then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    const INF: f64 = f64::INFINITY;

    #[test]
    fn headcounts() {
        let cases = [
            ("51-200", Some((51.0, 200.0))),
            ("5,001-10,000", Some((5001.0, 10000.0))),
            ("10,001+", Some((10001.0, INF))),
            ("10001+", Some((10001.0, INF))),
            ("1001-5000 employees", Some((1001.0, 5000.0))),
            ("201 - 500", Some((201.0, 500.0))),
            ("1", Some((1.0, 1.0))),
            ("unknown", None),
            ("N/A", None),
            ("undisclosed", None),
            ("", None),
            ("Self-employed", None),
            ("500-100", None),
            ("-", None),
            ("+", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_headcount(s), want, "{s:?}");
        }
    }

    #[test]
    fn revenues() {
        let cases = [
            ("$10M - $50M", Some((10e6, 50e6))),
            ("$10M-$50M", Some((10e6, 50e6))),
            ("$500K - $1M", Some((500e3, 1e6))),
            ("$1B+", Some((1e9, INF))),
            ("<$1M", Some((0.0, 1e6))),
            ("$1.5M", Some((1.5e6, 1.5e6))),
            ("unknown", None),
            ("N/A", None),
            ("undisclosed", None),
            ("", None),
            ("$", None),
            ("$M", None),
            ("$1e9", None),
            ("$inf", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_revenue(s), want, "{s:?}");
        }
    }
}
