//! The answer to a request, apart from any transport: a status, headers and
//! a body. The export use case builds one ([`Reply::file`], [`Reply::link`],
//! [`Reply::error`], the one place where an `ExportError` becomes a status
//! and a body); the HTTP adapter turns it into a Lambda response.

use serde_json::json;
use time::OffsetDateTime;

use crate::error::{ExportError, RETRY_AFTER_SECONDS, TIMEOUT_RETRY_AFTER_SECONDS};

/// `Content-Type` of an exported CSV file.
pub const CSV_CONTENT_TYPE: &str = "text/csv; charset=utf-8";

/// The header that counts the stored items of the selection skipped because
/// they could not be read into a lead (lower-case, as all names here).
pub const SKIPPED_HEADER: &str = "x-export-skipped";

/// The body of a [`Reply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyBody {
    /// UTF-8 text (JSON, plain CSV).
    Text(String),
    /// Bytes (gzip, a workbook).
    Binary(Vec<u8>),
}

/// A status, headers (lower-case names) and a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The headers, in order.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: ReplyBody,
}

/// An uploaded export: its presigned link and what the answer says of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The presigned GET URL.
    pub url: String,
    /// When the URL stops working (whole seconds).
    pub expires_at: OffsetDateTime,
    /// Leads in the file.
    pub count: usize,
    /// Stored items of the selection skipped (unreadable).
    pub skipped: usize,
    /// The file's name.
    pub filename: String,
}

impl Reply {
    /// The answer of an error: its status and JSON body; a 401 carries
    /// `WWW-Authenticate`, a 405 `Allow`, a 503 and a 504 `Retry-After`.
    pub fn error(err: &ExportError) -> Reply {
        let mut headers = vec![("content-type", "application/json".to_string())];
        match err {
            ExportError::Unauthorized(_) => headers.push(("www-authenticate", "Bearer".into())),
            ExportError::MethodNotAllowed(_) => headers.push(("allow", "POST".into())),
            ExportError::MethodNotAllowedUse { allow, .. } => {
                headers.push(("allow", allow.to_string()))
            }
            ExportError::Unavailable(_) => {
                headers.push(("retry-after", RETRY_AFTER_SECONDS.to_string()))
            }
            ExportError::Timeout { .. } => {
                headers.push(("retry-after", TIMEOUT_RETRY_AFTER_SECONDS.to_string()))
            }
            _ => {}
        }
        Reply {
            status: err.status().as_u16(),
            headers,
            body: ReplyBody::Text(err.body().to_string()),
        }
    }

    /// A file answered inline (200) with its [`file_headers`].
    pub fn file(headers: Vec<(&'static str, String)>, body: ReplyBody) -> Reply {
        Reply {
            status: 200,
            headers,
            body,
        }
    }

    /// The answer of an uploaded export: `303 See Other` to the link, or
    /// `200` with the link as JSON (`see_other` false); both carry the JSON
    /// body `{url, expiresAt, count, skipped, filename}`.
    pub fn link(link: &Link, see_other: bool) -> Reply {
        let expires_at = link
            .expires_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let body = json!({
            "url": link.url,
            "expiresAt": expires_at,
            "count": link.count,
            "skipped": link.skipped,
            "filename": link.filename,
        });
        let mut headers = vec![
            ("content-type", "application/json".to_string()),
            ("x-export-count", link.count.to_string()),
            (SKIPPED_HEADER, link.skipped.to_string()),
            ("cache-control", "no-store".into()),
            ("vary", "Accept, Accept-Encoding".into()),
        ];
        if see_other {
            headers.push(("location", link.url.clone()));
        }
        Reply {
            status: if see_other { 303 } else { 200 },
            headers,
            body: ReplyBody::Text(body.to_string()),
        }
    }
}

/// `attachment; filename="<filename>"`.
pub fn content_disposition(filename: &str) -> String {
    format!("attachment; filename=\"{filename}\"")
}

/// The headers of an inline file of `count` leads, `skipped` items of the
/// selection left out.
pub fn file_headers(
    content_type: &str,
    filename: &str,
    count: usize,
    skipped: usize,
    gzip: bool,
) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("content-type", content_type.into()),
        ("content-disposition", content_disposition(filename)),
        ("x-export-count", count.to_string()),
        (SKIPPED_HEADER, skipped.to_string()),
        ("cache-control", "no-store".into()),
        ("vary", "Accept, Accept-Encoding".into()),
    ];
    if gzip {
        headers.push(("content-encoding", "gzip".into()));
    }
    headers
}
