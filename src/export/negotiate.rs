//! Content negotiation: what the client's `Accept` and `Accept-Encoding`
//! ask for (gzip, an XLSX workbook, the JSON link instead of a redirect).
//! The body's `format.type` wins over `Accept`: see
//! [`crate::request::ExportRequest::file_type`].

/// The media ranges of an `Accept`-style header with a non-zero quality.
fn accepted(header: &str) -> impl Iterator<Item = String> + '_ {
    header.split(',').filter_map(|part| {
        let mut pieces = part.split(';');
        let value = pieces.next()?.trim().to_ascii_lowercase();
        let zero = pieces.any(|p| {
            let p = p.trim();
            p.strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        (!value.is_empty() && !zero).then_some(value)
    })
}

/// `Accept-Encoding` allows gzip (or anything, with `*`).
pub fn accepts_gzip(accept_encoding: &str) -> bool {
    accepted(accept_encoding).any(|e| e == "gzip" || e == "*")
}

/// `Accept` names the XLSX media type and not `text/csv`.
pub fn accepts_xlsx(accept: &str) -> bool {
    let ranges: Vec<String> = accepted(accept).collect();
    ranges.iter().any(|r| r == crate::xlsx::XLSX_CONTENT_TYPE)
        && !ranges.iter().any(|r| r == "text/csv")
}

/// The client asks for the JSON link rather than the file: `Accept` names
/// `application/json` and not `text/csv`.
pub fn wants_json_link(accept: &str) -> bool {
    let ranges: Vec<String> = accepted(accept).collect();
    ranges.iter().any(|r| r == "application/json") && !ranges.iter().any(|r| r == "text/csv")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation() {
        assert!(accepts_gzip("gzip, deflate, br"));
        assert!(accepts_gzip("br;q=1.0, gzip;q=0.8"));
        assert!(accepts_gzip("*"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("identity"));
        assert!(!accepts_gzip(""));
        assert!(wants_json_link("application/json"));
        assert!(wants_json_link("application/json, text/plain, */*"));
        assert!(!wants_json_link("text/csv, application/json"));
        assert!(!wants_json_link("*/*"));
        assert!(!wants_json_link("application/json;q=0"));
        let xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
        assert!(accepts_xlsx(xlsx));
        assert!(accepts_xlsx(&format!("application/json, {xlsx};q=0.9")));
        assert!(!accepts_xlsx(&format!("{xlsx};q=0")));
        assert!(!accepts_xlsx(&format!("text/csv, {xlsx}")));
        assert!(!accepts_xlsx("*/*"));
    }
}
