//! The lambda_http glue: a request in, a response out. The one place where an
//! `ExportError` becomes a status and a body.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::json;
use time::OffsetDateTime;

use futures::{TryFutureExt, TryStreamExt};

use crate::audit::Audit;
use crate::auth::{Authenticator, OrgId};
use crate::csv_export;
use crate::deadline::Deadline;
use crate::deliver::{self, Delivered, Encoding, Inline, ObjectMeta, ObjectStore, Sink, Target};
use crate::error::{ExportError, RETRY_AFTER_SECONDS};
use crate::fields::FieldList;
use crate::observe::{self, Destination, MetricsSink, Outcome};
use crate::request::{self, CsvFormat, ExportRequest, FileType, Selection};
use crate::resolve::resolve;
use crate::store::{LeadPages, LeadStore};

/// `Content-Type` of an exported file.
pub const CSV_CONTENT_TYPE: &str = "text/csv; charset=utf-8";
/// Size of each part of an S3 multipart upload.
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// What the handler needs, built once at start-up.
#[derive(Clone)]
pub struct App {
    /// Token verification.
    pub auth: Authenticator,
    /// Where leads are read.
    pub store: Arc<dyn LeadStore>,
    /// Where large exports are uploaded.
    pub objects: Arc<dyn ObjectStore>,
    /// The largest serialized response sent inline.
    pub inline_limit: usize,
    /// How long a presigned link stays valid.
    pub url_ttl: Duration,
    /// The invocation's timeout when the request carries no Lambda context
    /// (the local server: `EXPORT_TIMEOUT_SECONDS`).
    pub timeout: Duration,
    /// Where each request's audit record goes (fail closed, see
    /// [`crate::audit::settle`]).
    pub audit: Audit,
    /// Where each export's EMF metrics line goes (stdout in Lambda).
    pub metrics: Arc<dyn MetricsSink>,
}

/// Serves one request; never fails: every error is a response. The answer
/// is due 2 s before the invocation's deadline: the Lambda context's, or
/// `app.timeout` from now without one. An authenticated request's audit
/// record is written before the answer goes out (a served export whose
/// record fails becomes a 503); then one log line, and one EMF line per
/// served export.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let started = Instant::now();
    let at = OffsetDateTime::now_utc();
    let deadline = request_deadline(app, &req);
    let request_id = observe::request_id(&req);
    let mut outcome = Outcome::default();
    let (result, dynamo) = observe::counting(export(app, &req, &deadline, &mut outcome)).await;
    let (result, audit) =
        crate::audit::settle(&app.audit, &deadline, &outcome, &request_id, at, result).await;
    let (status, code) = observe::status_and_code(&result);
    let report = observe::Report {
        request_id: &request_id,
        outcome: &outcome,
        status,
        code: &code,
        error: result.as_ref().err().map(ToString::to_string),
        duration: started.elapsed(),
        dynamo,
        audit,
    };
    observe::log_request(&report);
    if let Some(line) = observe::emf_line(&report, OffsetDateTime::now_utc()) {
        app.metrics.emit(&line);
    }
    result.unwrap_or_else(|err| error_response(&err))
}

/// The deadline of `req`: the Lambda context's when it has one, otherwise
/// `app.timeout` from now.
pub fn request_deadline(app: &App, req: &Request) -> Deadline {
    match req.lambda_context_ref() {
        Some(context) if context.deadline > 0 => Deadline::at_epoch_millis(context.deadline),
        _ => Deadline::after(app.timeout),
    }
}

/// The response of an error: its status and JSON body (a 503 carries
/// `Retry-After`).
pub fn error_response(err: &ExportError) -> Response<Body> {
    let mut builder = Response::builder()
        .status(err.status())
        .header("content-type", "application/json");
    if matches!(err, ExportError::Unauthorized(_)) {
        builder = builder.header("www-authenticate", "Bearer");
    }
    if matches!(err, ExportError::MethodNotAllowed(_)) {
        builder = builder.header("allow", "POST");
    }
    if matches!(err, ExportError::Unavailable(_)) {
        builder = builder.header("retry-after", RETRY_AFTER_SECONDS.to_string());
    }
    builder
        .body(Body::Text(err.body().to_string()))
        .expect("static headers are valid")
}

/// The export itself; `outcome` records what it did as it goes (who, which
/// selection, how many leads, where), for the audit trail and the metrics.
async fn export(
    app: &App,
    req: &Request,
    deadline: &Deadline,
    outcome: &mut Outcome,
) -> Result<Response<Body>, ExportError> {
    if req.method() != http::Method::POST {
        return Err(ExportError::MethodNotAllowed(req.method().to_string()));
    }
    let caller = app.auth.authenticate_caller(header(req, "authorization"))?;
    let org = caller.org.clone();
    outcome.caller = Some(caller);
    outcome.selection_hash = crate::audit::selection_hash(req.body().as_ref());
    let request = request::parse(req.body().as_ref())?;
    outcome.mode = Some(match request.selection {
        Selection::Manual { .. } => "manual",
        Selection::Bulk(_) => "bulk",
    });
    let file_type = file_type(&request, header(req, "accept").unwrap_or(""))?;
    outcome.format = Some(match file_type {
        FileType::Csv => "csv",
        FileType::Xlsx => "xlsx",
    });
    let fields = request.fields.ok_or(ExportError::NoValidFields)?;
    outcome.fields = fields.fields().iter().map(|f| f.id()).collect();
    let attributes = fields.lead_attributes();
    let now = OffsetDateTime::now_utc();
    let kind = FileKind::of(file_type);
    let filename = file_name(now, kind.ext);
    let link = wants_json_link(header(req, "accept").unwrap_or(""));
    // A workbook is a zip already: never gzip-encoded.
    let gzip = !link
        && file_type == FileType::Csv
        && accepts_gzip(header(req, "accept-encoding").unwrap_or(""));
    // The count is known at the end: the budget holds its longest value.
    let most = most_leads(&request.selection);
    let inline = (!link).then(|| {
        let headers = file_headers(kind, &filename, most, gzip);
        Inline {
            budget: app.inline_limit.saturating_sub(deliver::envelope_bytes(
                headers.iter().map(|(k, v)| (*k, v.as_str())),
            )),
            encoding: match (file_type, gzip) {
                (FileType::Xlsx, _) => Encoding::Binary,
                (FileType::Csv, true) => Encoding::Gzip,
                (FileType::Csv, false) => Encoding::Text,
            },
        }
    });
    let key = object_key_with_ext(&org, now, &uuid::Uuid::new_v4().to_string(), kind.ext);
    let objects = observe::CountingObjects::new(app.objects.as_ref());
    let mut sink = Sink::new(Target {
        objects: &objects,
        key: key.clone(),
        meta: ObjectMeta {
            content_type: kind.content_type.into(),
            content_disposition: content_disposition(&filename),
        },
        inline,
        part_size: PART_SIZE,
        deadline,
    });
    let leads = resolve(app.store.as_ref(), &org, &request.selection, &attributes);
    let result = async {
        let count = match file_type {
            FileType::Csv => render_csv(&mut sink, leads, &fields, &request.format).await?,
            FileType::Xlsx => render_xlsx(&mut sink, leads, &fields).await?,
        };
        if count == 0 {
            return Err(ExportError::NoData);
        }
        tracing::debug!(count, "selection written");
        Ok((count, sink.finish().await?))
    }
    .await;
    let (count, delivered) = match result {
        Ok(done) => done,
        Err(err) => {
            sink.abort().await;
            return Err(err);
        }
    };
    drop(sink);
    outcome.count = Some(count);
    match delivered {
        Delivered::Inline(bytes) => {
            outcome.bytes = Some(bytes.len() as u64);
            outcome.destination = Some(Destination::Inline);
            let body = if gzip || file_type == FileType::Xlsx {
                Body::Binary(bytes)
            } else {
                Body::Text(String::from_utf8(bytes).map_err(ExportError::internal)?)
            };
            let mut builder = Response::builder().status(200);
            for (name, value) in file_headers(kind, &filename, count, gzip) {
                builder = builder.header(name, value);
            }
            Ok(builder.body(body).map_err(ExportError::internal)?)
        }
        Delivered::Uploaded => {
            outcome.bytes = Some(objects.bytes());
            let url = app.objects.presign_get(&key, app.url_ttl).await?;
            tracing::debug!(key = %key, count, "export uploaded");
            outcome.destination = Some(Destination::S3 { key: key.clone() });
            let expires_at = now + app.url_ttl;
            let link_info = Link {
                url,
                expires_at: expires_at.replace_nanosecond(0).unwrap_or(expires_at),
                count,
                filename,
            };
            let status = if link {
                http::StatusCode::OK
            } else {
                http::StatusCode::SEE_OTHER
            };
            Ok(link_response(status, &link_info))
        }
    }
}

/// Renders the CSV of `leads` into `sink` as they arrive, each lead once
/// (the header before the first row; nothing for an empty selection);
/// returns the number of rows.
pub async fn render_csv(
    sink: &mut Sink<'_>,
    mut leads: LeadPages<'_>,
    fields: &FieldList,
    format: &CsvFormat,
) -> Result<usize, ExportError> {
    let mut csv = csv_export::RowWriter::new(fields, format);
    loop {
        let next = leads.try_next().map_err(ExportError::from);
        let Some(page) = sink.alongside("reading the leads", next).await? else {
            return Ok(csv.rows());
        };
        for lead in &page {
            if csv.rows() == 0 {
                sink.write(csv.header().map_err(ExportError::internal)?)
                    .await?;
            }
            sink.write(csv.row(lead).map_err(ExportError::internal)?)
                .await?;
        }
    }
}

/// Renders the workbook of `leads` (rust_xlsxwriter builds it in memory,
/// so the leads are collected first) and writes it into `sink`; returns the
/// number of rows. Nothing is written for an empty selection.
pub async fn render_xlsx(
    sink: &mut Sink<'_>,
    leads: LeadPages<'_>,
    fields: &FieldList,
) -> Result<usize, ExportError> {
    let collect = leads.map_err(ExportError::from).try_concat();
    let leads: Vec<crate::model::Lead> = sink.alongside("reading the leads", collect).await?;
    if leads.is_empty() {
        return Ok(0);
    }
    let bytes = crate::xlsx::to_xlsx(fields, &leads)?;
    sink.write(&bytes).await?;
    Ok(leads.len())
}

/// The most leads `selection` can export.
fn most_leads(selection: &Selection) -> usize {
    match selection {
        Selection::Manual { ids } => ids.len(),
        Selection::Bulk(bulk) => bulk.count.saturating_add(bulk.included.len()),
    }
}

fn content_disposition(filename: &str) -> String {
    format!("attachment; filename=\"{filename}\"")
}

/// The content type and file extension of an export.
#[derive(Clone, Copy)]
struct FileKind {
    content_type: &'static str,
    ext: &'static str,
}

impl FileKind {
    fn of(file_type: FileType) -> Self {
        match file_type {
            FileType::Csv => FileKind {
                content_type: CSV_CONTENT_TYPE,
                ext: "csv",
            },
            FileType::Xlsx => FileKind {
                content_type: crate::xlsx::XLSX_CONTENT_TYPE,
                ext: "xlsx",
            },
        }
    }
}

/// The headers of an inline file of `count` leads.
fn file_headers(
    kind: FileKind,
    filename: &str,
    count: usize,
    gzip: bool,
) -> Vec<(&'static str, String)> {
    let mut headers = vec![
        ("content-type", kind.content_type.into()),
        ("content-disposition", content_disposition(filename)),
        ("x-export-count", count.to_string()),
        ("cache-control", "no-store".into()),
        ("vary", "Accept, Accept-Encoding".into()),
    ];
    if gzip {
        headers.push(("content-encoding", "gzip".into()));
    }
    headers
}

/// An uploaded export: its presigned link and what the answer says of it.
struct Link {
    url: String,
    expires_at: OffsetDateTime,
    count: usize,
    filename: String,
}

fn link_response(status: http::StatusCode, link: &Link) -> Response<Body> {
    let expires_at = link
        .expires_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let body = json!({
        "url": link.url,
        "expiresAt": expires_at,
        "count": link.count,
        "filename": link.filename,
    });
    let mut builder = Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-export-count", link.count.to_string())
        .header("cache-control", "no-store")
        .header("vary", "Accept, Accept-Encoding");
    if status == http::StatusCode::SEE_OTHER {
        builder = builder.header("location", &link.url);
    }
    builder
        .body(Body::Text(body.to_string()))
        .expect("a presigned URL is a valid header value")
}

/// `lance-prospects-YYYY-MM-DD.csv`, by the UTC date.
pub fn filename(now: OffsetDateTime) -> String {
    file_name(now, "csv")
}

/// `lance-prospects-YYYY-MM-DD.<ext>`, by the UTC date.
pub fn file_name(now: OffsetDateTime, ext: &str) -> String {
    let d = now.date();
    format!(
        "lance-prospects-{:04}-{:02}-{:02}.{ext}",
        d.year(),
        u8::from(d.month()),
        d.day()
    )
}

/// `exports/<org>/<yyyy>/<mm>/<dd>/<uuid>.csv`, where `<org>` is
/// [`org_key_part`]: distinct organizations never share a prefix.
pub fn object_key(org: &OrgId, now: OffsetDateTime, id: &str) -> String {
    object_key_with_ext(org, now, id, "csv")
}

/// [`object_key`] ending in `.<ext>`.
pub fn object_key_with_ext(org: &OrgId, now: OffsetDateTime, id: &str, ext: &str) -> String {
    let d = now.date();
    format!(
        "exports/{}/{:04}/{:02}/{:02}/{id}.{ext}",
        org_key_part(org),
        d.year(),
        u8::from(d.month()),
        d.day()
    )
}

/// The organization's segment of an object key: base64url (no padding) of
/// the SHA-256 of its id. Injective in practice, 43 characters of
/// `[A-Za-z0-9_-]` whatever the id holds (`/`, `..`, unicode, 1 KiB).
pub fn org_key_part(org: &OrgId) -> String {
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(org.as_str().as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

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

/// The file type of an export: the body's `format.type` when it gives one
/// (the body wins over `Accept`); otherwise XLSX when `Accept` names the
/// XLSX media type and not `text/csv` ([`accepts_xlsx`]); otherwise CSV.
/// An XLSX export with a CSV-only option (`bom`, `delimiter`,
/// `lineEnding`) set to a non-default value is a `VALIDATION_ERROR`.
pub fn file_type(request: &ExportRequest, accept: &str) -> Result<FileType, ExportError> {
    let chosen = match request.file_type {
        Some(t) => t,
        None if accepts_xlsx(accept) => FileType::Xlsx,
        None => FileType::Csv,
    };
    if chosen == FileType::Xlsx {
        if let Some(key) = request.format.csv_only_option() {
            return Err(ExportError::Validation(format!(
                "format.{key}: applies to CSV only, and this export is xlsx"
            )));
        }
    }
    Ok(chosen)
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
        let xlsx = crate::xlsx::XLSX_CONTENT_TYPE;
        assert!(accepts_xlsx(xlsx));
        assert!(accepts_xlsx(&format!("application/json, {xlsx};q=0.9")));
        assert!(!accepts_xlsx(&format!("{xlsx};q=0")));
        assert!(!accepts_xlsx(&format!("text/csv, {xlsx}")));
        assert!(!accepts_xlsx("*/*"));
    }

    #[test]
    fn names_by_utc_date() {
        let t = time::macros::datetime!(2026-01-05 23:59:59 UTC);
        assert_eq!(filename(t), "lance-prospects-2026-01-05.csv");
        let org = OrgId::new("org-1").unwrap();
        let key = object_key(&org, t, "u-1");
        assert_eq!(
            key,
            format!("exports/{}/2026/01/05/u-1.csv", org_key_part(&org))
        );
        assert_eq!(org_key_part(&org), EXPECTED_ORG_1);
    }

    /// base64url(SHA-256("org-1")), computed independently with
    /// `printf org-1 | openssl dgst -sha256 -binary | basenc --base64url`
    /// (less its `=` padding).
    const EXPECTED_ORG_1: &str = "wkeHp1yzY-S8M4cc_yOkB8LcDbYxiYw1tGBKgzv6tfg";

    #[test]
    fn object_keys_are_injective_safe_and_bounded() {
        let t = time::macros::datetime!(2026-01-05 00:00:00 UTC);
        let orgs = [
            "a/b".to_string(),
            "a_b".to_string(),
            "a b".to_string(),
            "A_B".to_string(),
            ".".to_string(),
            "..".to_string(),
            "../..".to_string(),
            "/".to_string(),
            "#".to_string(),
            "a#b".to_string(),
            "a?b".to_string(),
            "é".to_string(),
            "e\u{301}".to_string(),
            "組織".to_string(),
            "🦀".to_string(),
            "x".repeat(1000),
            "x".repeat(1001),
            "x".repeat(1024),
            "org-demo-a".to_string(),
            "org-demo-A".to_string(),
        ];
        let mut seen = std::collections::HashSet::new();
        for org in &orgs {
            let id = OrgId::new(org.clone()).unwrap();
            let key = object_key(&id, t, "0b7f1c52-3f1e-4a53-9d2e-2c8f7f0d9a11");
            assert!(seen.insert(key.clone()), "{org:?} shares {key}");
            assert!(
                key.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-/.".contains(c)),
                "{org:?}: {key}"
            );
            let segments: Vec<&str> = key.split('/').collect();
            assert_eq!(segments.len(), 6, "{org:?}: {key}");
            assert_eq!(segments[1].len(), 43, "{org:?}: {key}");
            assert!(!segments
                .iter()
                .any(|s| s.is_empty() || *s == "." || *s == ".."));
            assert_eq!(key.len(), "exports//2026/01/05/.csv".len() + 43 + 36);
        }
    }
}
