//! The export use case: authenticate the caller, parse the request, resolve
//! the selection, render the file into the sink, deliver it (inline or S3),
//! and settle the audit record; then one log line and one metrics line.
//! Transport-neutral: an [`Input`] in, a [`Reply`] out (`http` adapts both).

pub mod naming;
pub mod negotiate;
pub mod render;

use std::time::Instant;

use time::OffsetDateTime;

use crate::app::App;
use crate::deadline::Deadline;
use crate::deliver::{self, Delivered, Encoding, Inline, ObjectMeta, Sink, Target};
use crate::error::ExportError;
use crate::observe::{self, Destination, Outcome};
use crate::reply::{content_disposition, file_headers, Link, Reply, ReplyBody, SKIPPED_HEADER};
use crate::request::{self, FileType, Selection};
use crate::resolve::resolve;
use crate::store::Positions;
use naming::FileKind;

/// Size of each part of an S3 multipart upload.
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// One export request as the adapter hands it over.
#[derive(Debug, Clone)]
pub struct Input<'a> {
    /// The HTTP method (only `POST` is served).
    pub method: &'a str,
    /// The `Authorization` header, if any.
    pub authorization: Option<&'a str>,
    /// The `Accept` header (empty when absent).
    pub accept: &'a str,
    /// The `Accept-Encoding` header (empty when absent).
    pub accept_encoding: &'a str,
    /// The raw body.
    pub body: &'a [u8],
    /// The request id (the Lambda context's, or a new one).
    pub request_id: String,
    /// When the answer is due.
    pub deadline: Deadline,
}

/// Serves one request; never fails: every error is a reply. An
/// authenticated request's audit record is written before the answer goes
/// out (a served export whose record fails becomes a 503); then one log
/// line, and one EMF line per served export.
pub async fn run(app: &App, input: Input<'_>) -> Reply {
    let started = Instant::now();
    let at = OffsetDateTime::now_utc();
    let mut outcome = Outcome::default();
    let positions = Positions::new(app.cursors.clone())
        .with_deadline(input.deadline)
        .with_save_bound(app.cursors_save);
    let (result, dynamo) = observe::counting(export(app, &positions, &input, &mut outcome)).await;
    // The checkpoints are saved while the audit record is written: both
    // are over before the answer (nothing is left for a frozen Lambda).
    let ((result, audit), ()) = tokio::join!(
        crate::audit::settle(
            &app.audit,
            &input.deadline,
            &outcome,
            &input.request_id,
            at,
            result,
        ),
        positions.settle(app.cursors_settle.min(input.deadline.remaining()))
    );
    let (status, code) = observe::status_and_code(&result);
    let report = observe::Report {
        request_id: &input.request_id,
        outcome: &outcome,
        status,
        code: &code,
        error: result.as_ref().err().and_then(ExportError::log_cause),
        duration: started.elapsed(),
        dynamo,
        audit,
    };
    observe::log_request(&report);
    if let Some(line) = observe::emf_line(&report, OffsetDateTime::now_utc()) {
        app.metrics.emit(&line);
    }
    result.unwrap_or_else(|err| {
        let mut reply = Reply::error(&err);
        // `No data to export` after a read says how many items it skipped.
        if let (ExportError::NoData, Some(skipped)) = (&err, outcome.skipped) {
            reply.headers.push((SKIPPED_HEADER, skipped.to_string()));
        }
        reply
    })
}

/// The export itself; `outcome` records what it did as it goes (who, which
/// selection, how many leads, where), for the audit trail and the metrics.
async fn export(
    app: &App,
    positions: &Positions,
    input: &Input<'_>,
    outcome: &mut Outcome,
) -> Result<Reply, ExportError> {
    if input.method != "POST" {
        return Err(ExportError::MethodNotAllowed(input.method.to_string()));
    }
    let deadline = &input.deadline;
    let caller = app.auth.authenticate_caller(input.authorization)?;
    let org = caller.org.clone();
    outcome.caller = Some(caller);
    outcome.selection_hash = crate::audit::selection_hash(input.body);
    let request = request::parse(input.body)?;
    outcome.mode = Some(match request.selection {
        Selection::Manual { .. } => "manual",
        Selection::Bulk(_) => "bulk",
    });
    let file_type = request.file_type(negotiate::accepts_xlsx(input.accept))?;
    outcome.format = Some(file_type.name());
    let fields = request.fields.ok_or(ExportError::NoValidFields)?;
    outcome.fields = fields.fields().iter().map(|f| f.id()).collect();
    let attributes = fields.lead_attributes();
    let now = OffsetDateTime::now_utc();
    let kind = FileKind::of(file_type);
    let filename = naming::file_name(now, kind.ext);
    let link = negotiate::wants_json_link(input.accept);
    // A workbook is a zip already: never gzip-encoded.
    let gzip =
        !link && file_type == FileType::Csv && negotiate::accepts_gzip(input.accept_encoding);
    // The count is known at the end: the budget holds its longest value.
    let most = most_leads(&request.selection);
    let inline = (!link).then(|| {
        let headers = file_headers(kind.content_type, &filename, most, most, gzip);
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
    let key = naming::object_key(&org, now, &uuid::Uuid::new_v4().to_string(), kind.ext);
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
    let leads = resolve(
        app.store.as_ref(),
        Some(positions),
        &org,
        &request.selection,
        &attributes,
    );
    let result = async {
        let rendered = match file_type {
            FileType::Csv => render::render_csv(&mut sink, leads, &fields, &request.format).await?,
            FileType::Xlsx => render::render_xlsx(&mut sink, leads, &fields, deadline).await?,
        };
        outcome.skipped = Some(rendered.skipped);
        if rendered.rows == 0 {
            return Err(ExportError::NoData);
        }
        let count = rendered.rows;
        tracing::debug!(count, skipped = rendered.skipped, "selection written");
        Ok((count, sink.finish().await?))
    }
    .await;
    let skipped = outcome.skipped.unwrap_or(0);
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
                ReplyBody::Binary(bytes)
            } else {
                ReplyBody::Text(String::from_utf8(bytes).map_err(ExportError::internal)?)
            };
            Ok(Reply::file(
                file_headers(kind.content_type, &filename, count, skipped, gzip),
                body,
            ))
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
                skipped,
                filename,
            };
            Ok(Reply::link(&link_info, !link))
        }
    }
}

/// The most leads `selection` can export.
fn most_leads(selection: &Selection) -> usize {
    match selection {
        Selection::Manual { ids } => ids.len(),
        Selection::Bulk(bulk) => bulk.count.saturating_add(bulk.included.len()),
    }
}
