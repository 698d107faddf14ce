//! Getting a file to the client in one pass: the [`Sink`] keeps it as the
//! inline answer (maybe gzip) while the serialized Lambda response fits,
//! otherwise streams it into an S3 multipart upload for a presigned link.

use std::future::Future;
use std::io::{Read, Write};
use std::time::Duration;

use async_trait::async_trait;
use flate2::{write::GzEncoder, Compression};
use futures::future::BoxFuture;

use crate::deadline::{Deadline, ABORT_RESERVE, FINISH_RESERVE};
use crate::error::{ExportError, FaultKind};

pub mod memory;
pub mod s3;

/// Lambda's limit on a serialized synchronous response, in bytes.
pub const LAMBDA_RESPONSE_LIMIT: usize = 6_291_556;
/// Room kept for what our estimate of the response envelope may miss.
pub const SAFETY_MARGIN: usize = 64 * 1024;
/// S3's smallest part (but the last).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;

/// The largest serialized response sent inline: the Lambda limit less the
/// safety margin, or `INLINE_MAX_BYTES` when that is lower.
pub fn inline_limit(configured: Option<usize>) -> usize {
    let hard = LAMBDA_RESPONSE_LIMIT - SAFETY_MARGIN;
    configured.map_or(hard, |c| c.min(hard))
}

/// What the serialized response costs besides its body: status, flags and
/// each header twice (REST APIs get `headers` and `multiValueHeaders`).
pub fn envelope_bytes<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> usize {
    let headers: usize = headers
        .into_iter()
        .map(|(name, value)| {
            2 * (json_string_len(name.as_bytes()) + json_string_len(value.as_bytes()) + 4)
        })
        .sum();
    256 + headers
}

/// Length of `bytes` as a JSON string (with its quotes), escaped the way
/// serde_json escapes it (non-ASCII UTF-8 is left as it is).
pub fn json_string_len(bytes: &[u8]) -> usize {
    2 + bytes.len()
        + bytes
            .iter()
            .map(|&b| usize::from(JSON_ESCAPE_EXTRA[usize::from(b)]))
            .sum::<usize>()
}

/// The bytes JSON escaping adds to each byte: `\"`, `\\`, `\n`, `\r`, `\t`,
/// `\b`, `\f` one; other control bytes five (`\u00XX`); the rest none.
const JSON_ESCAPE_EXTRA: [u8; 256] = {
    let mut extra = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        extra[b] = 5;
        b += 1;
    }
    extra[b'"' as usize] = 1;
    extra[b'\\' as usize] = 1;
    extra[b'\n' as usize] = 1;
    extra[b'\r' as usize] = 1;
    extra[b'\t' as usize] = 1;
    extra[0x08] = 1;
    extra[0x0c] = 1;
    extra
};

/// Length of `n` bytes in base64 (a binary body).
pub fn base64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// A failure of the object store: whether a retry may help, and a message
/// for the log only.
#[derive(Debug, Clone, thiserror::Error)]
#[error("object store: {message}")]
pub struct ObjectStoreError {
    /// Transient (throttling such as `SlowDown`, timeout, 5xx) or not.
    pub kind: FaultKind,
    /// What failed, for the log.
    pub message: String,
}

impl ObjectStoreError {
    /// A failure a retry will not fix.
    pub fn other(message: impl Into<String>) -> Self {
        ObjectStoreError {
            kind: FaultKind::Other,
            message: message.into(),
        }
    }

    /// A failure that may pass when retried later.
    pub fn transient(message: impl Into<String>) -> Self {
        ObjectStoreError {
            kind: FaultKind::Transient,
            message: message.into(),
        }
    }

    /// The error prefixed with the step that failed, kind kept.
    fn during(self, step: impl std::fmt::Display) -> ExportError {
        ExportError::from_fault(self.kind, format!("{step}: {}", self.message))
    }
}

impl From<crate::error::Fault> for ObjectStoreError {
    fn from(fault: crate::error::Fault) -> Self {
        ObjectStoreError {
            kind: fault.kind,
            message: fault.message,
        }
    }
}

impl From<ObjectStoreError> for ExportError {
    /// Transient → 503, anything else → 500.
    fn from(err: ObjectStoreError) -> Self {
        ExportError::from_fault(err.kind, &err)
    }
}

/// The object store an export is uploaded to (S3, or a fake in tests).
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Starts a multipart upload; returns its id.
    async fn create_multipart(
        &self,
        key: &str,
        meta: &ObjectMeta,
    ) -> Result<String, ObjectStoreError>;
    /// Uploads part `number` (from 1); returns its ETag.
    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: i32,
        body: Vec<u8>,
    ) -> Result<String, ObjectStoreError>;
    /// Completes the upload from its parts' numbers and ETags.
    async fn complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: Vec<(i32, String)>,
    ) -> Result<(), ObjectStoreError>;
    /// Aborts the upload, discarding its parts.
    async fn abort(&self, key: &str, upload_id: &str) -> Result<(), ObjectStoreError>;
    /// The size in bytes of the object at `key`, `None` when there is
    /// none: how a job step retried after its upload's completion (whose
    /// answer it never heard) tells that the file is there.
    async fn size_of(&self, key: &str) -> Result<Option<u64>, ObjectStoreError>;
    /// The ids of `key`'s multipart uploads neither completed nor aborted:
    /// how an upload whose creation was cut (by the deadline, a lost
    /// answer) before its id came back is found, to abort it.
    async fn uploads_of(&self, key: &str) -> Result<Vec<String>, ObjectStoreError>;
    /// A URL that lets anyone holding it GET the object for `ttl`.
    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String, ObjectStoreError>;
}

/// The headers stored with an uploaded export. (No count: the upload is
/// created before the last row is known; the count is in the answer.)
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectMeta {
    /// `Content-Type` of the object.
    pub content_type: String,
    /// `Content-Disposition` of the object (the file name a browser saves).
    pub content_disposition: String,
}

/// How an inline answer carries the file, which decides how its bytes are
/// counted against the Lambda limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 text in a JSON string: counted JSON-escaped.
    Text,
    /// Bytes as they are, base64-encoded: counted in base64.
    Binary,
    /// The bytes gzip-compressed (one encoder over the whole file),
    /// base64-encoded; the answer carries `Content-Encoding: gzip`. An
    /// upload holds the uncompressed bytes, as without gzip.
    Gzip,
}

/// An inline answer's budget: the body's serialized size may reach
/// `budget` bytes (the inline limit less the envelope).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inline {
    /// The most bytes the serialized body may take.
    pub budget: usize,
    /// How the body carries the file.
    pub encoding: Encoding,
}

/// Where a file goes: inline while it fits `inline` (never with `None`),
/// otherwise to `key` in `objects` in parts of `part_size` bytes (at least
/// [`MIN_PART_SIZE`]), every step within `deadline`.
pub struct Target<'a> {
    /// Where an upload goes.
    pub objects: &'a dyn ObjectStore,
    /// The object key of an upload.
    pub key: String,
    /// The headers stored with an upload.
    pub meta: ObjectMeta,
    /// The inline budget; `None` always uploads.
    pub inline: Option<Inline>,
    /// Bytes of each uploaded part.
    pub part_size: usize,
    /// When every step must be done.
    pub deadline: &'a Deadline,
}

/// How a file was delivered.
#[derive(Debug, PartialEq)]
pub enum Delivered {
    /// The body of the inline answer (gzip-compressed for
    /// [`Encoding::Gzip`]).
    Inline(Vec<u8>),
    /// Uploaded to the target's key.
    Uploaded,
}

/// An upload part on its way, with its size.
type PartInFlight<'a> = (usize, BoxFuture<'a, Result<(i32, String), ExportError>>);

/// The inline body being filled (the encoder boxed: its state is large).
enum InlineBody {
    Plain(Vec<u8>),
    Gzip(Box<GzEncoder<Vec<u8>>>),
}

enum State {
    /// Filling the inline body; `counted` is its serialized size so far.
    Inline {
        inline: Inline,
        body: InlineBody,
        counted: usize,
    },
    /// Filling upload parts.
    Upload,
    /// Finished or aborted.
    Done,
}

/// The one sink of an export: takes the file's bytes as they are rendered
/// and keeps them as the inline answer while its serialized size fits;
/// when the next bytes would pass the budget, the bytes so far become the
/// first part(s) of a multipart upload (created then, not before) and the
/// rest goes into parts of `part_size`, one uploading while the next fills.
/// Memory: the inline body, or about two parts.
///
/// Any failure, or the deadline coming, must be followed by
/// [`Sink::abort`], which aborts an open upload (no object, no open upload
/// left).
pub struct Sink<'a> {
    objects: &'a dyn ObjectStore,
    key: String,
    meta: ObjectMeta,
    part_size: usize,
    deadline: &'a Deadline,
    state: State,
    upload_id: Option<String>,
    /// A `CreateMultipartUpload` failed or was cut: S3 may hold an upload
    /// of the key whose id never came back.
    create_failed: bool,
    part: Vec<u8>,
    parts: Vec<(i32, String)>,
    in_flight: Option<PartInFlight<'a>>,
}

/// Bytes decompressed at a time when a gzip body spills: with two parts
/// (the one filling, the one in flight), what bounds the bytes a [`Sink`]
/// holds (measured by `tests/sink_memory.rs`).
pub const GUNZIP_BLOCK: usize = 64 * 1024;

impl<'a> Sink<'a> {
    /// An empty sink for `target`.
    pub fn new(target: Target<'a>) -> Self {
        let state = match target.inline {
            Some(inline) => State::Inline {
                inline,
                body: match inline.encoding {
                    Encoding::Gzip => {
                        InlineBody::Gzip(Box::new(GzEncoder::new(Vec::new(), Compression::fast())))
                    }
                    Encoding::Text | Encoding::Binary => InlineBody::Plain(Vec::new()),
                },
                counted: if inline.encoding == Encoding::Text {
                    2
                } else {
                    0
                },
            },
            None => State::Upload,
        };
        Sink {
            objects: target.objects,
            key: target.key,
            meta: target.meta,
            part_size: target.part_size.max(MIN_PART_SIZE),
            deadline: target.deadline,
            state,
            upload_id: None,
            create_failed: false,
            part: Vec::new(),
            parts: Vec::new(),
            in_flight: None,
        }
    }

    /// How long before the answer is due work stops: with an upload open,
    /// in time for its abort.
    fn reserve(&self) -> Duration {
        if self.upload_id.is_some() {
            ABORT_RESERVE
        } else {
            FINISH_RESERVE
        }
    }

    /// Appends `bytes` to the file; once the deadline's stop has come,
    /// `ExportError::Timeout` instead (rendering and gzip run on the
    /// runtime's one thread, where no timer can cut them: each write
    /// checks).
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), ExportError> {
        self.deadline.check("writing the file", self.reserve())?;
        match &mut self.state {
            State::Inline {
                inline,
                body,
                counted,
            } => {
                let fits = match body {
                    InlineBody::Plain(buf) => {
                        let cost = match inline.encoding {
                            Encoding::Text => json_string_len(bytes) - 2,
                            _ => base64_len(buf.len() + bytes.len()) - base64_len(buf.len()),
                        };
                        let fits = *counted + cost <= inline.budget;
                        if fits {
                            buf.extend_from_slice(bytes);
                            *counted += cost;
                        }
                        fits
                    }
                    InlineBody::Gzip(encoder) => {
                        encoder.write_all(bytes).map_err(ExportError::internal)?;
                        base64_len(encoder.get_ref().len()) <= inline.budget
                    }
                };
                if fits {
                    return Ok(());
                }
                match std::mem::replace(&mut self.state, State::Upload) {
                    State::Inline {
                        body: InlineBody::Plain(buf),
                        ..
                    } => {
                        self.part = buf;
                        self.push(bytes).await
                    }
                    State::Inline {
                        body: InlineBody::Gzip(encoder),
                        ..
                    } => {
                        // `bytes` are in the encoder already.
                        let gz = encoder.finish().map_err(ExportError::internal)?;
                        self.push_gunzipped(&gz).await
                    }
                    _ => unreachable!("the state was inline"),
                }
            }
            State::Upload => self.push(bytes).await,
            State::Done => Err(ExportError::internal("write after the export ended")),
        }
    }

    /// Appends `bytes` to the parts, sending each full part.
    async fn push(&mut self, bytes: &[u8]) -> Result<(), ExportError> {
        // A part is allocated once at its full size (growing by doubling
        // would leave it up to twice that).
        let room = self.part_size + GUNZIP_BLOCK;
        if self.part.capacity() < room {
            self.part.reserve_exact(room - self.part.len());
        }
        self.part.extend_from_slice(bytes);
        while self.part.len() >= self.part_size {
            // The part in flight lands before the next buffer is
            // allocated: two parts live at once, not three.
            self.land().await?;
            let mut next = Vec::with_capacity(room);
            next.extend_from_slice(&self.part[self.part_size..]);
            self.part.truncate(self.part_size);
            let full = std::mem::replace(&mut self.part, next);
            self.send(full).await?;
        }
        Ok(())
    }

    /// The plain bytes of a gzip body that spills, into the parts.
    async fn push_gunzipped(&mut self, gz: &[u8]) -> Result<(), ExportError> {
        let mut decoder = flate2::read::GzDecoder::new(gz);
        let mut block = vec![0u8; GUNZIP_BLOCK];
        loop {
            self.deadline.check("writing the file", self.reserve())?;
            let n = decoder.read(&mut block).map_err(ExportError::internal)?;
            if n == 0 {
                return Ok(());
            }
            self.push(&block[..n]).await?;
        }
    }

    /// Starts the upload of `body` as the next part, after the part in
    /// flight has landed (creating the upload first if needed).
    async fn send(&mut self, body: Vec<u8>) -> Result<(), ExportError> {
        self.land().await?;
        let upload_id = match &self.upload_id {
            Some(id) => id.clone(),
            None => {
                let (objects, key, meta) = (self.objects, &self.key, &self.meta);
                let created = self
                    .deadline
                    .run("starting the upload", ABORT_RESERVE, async {
                        objects
                            .create_multipart(key, meta)
                            .await
                            .map_err(|e| e.during("CreateMultipartUpload"))
                    })
                    .await;
                // Cut or failed, the request may still have created the
                // upload: `abort` looks for it.
                self.create_failed = created.is_err();
                let id = created?;
                self.upload_id = Some(id.clone());
                id
            }
        };
        let number = self.parts.len() as i32 + 1;
        let (objects, key, size) = (self.objects, self.key.clone(), body.len());
        let part = async move {
            objects
                .upload_part(&key, &upload_id, number, body)
                .await
                .map(|etag| (number, etag))
                .map_err(|e| e.during(format!("UploadPart {number}")))
        };
        self.in_flight = Some((size, Box::pin(part)));
        Ok(())
    }

    /// Waits for the part in flight, if any.
    async fn land(&mut self) -> Result<(), ExportError> {
        if let Some((_, part)) = self.in_flight.take() {
            let done = self
                .deadline
                .run("uploading the file", ABORT_RESERVE, part)
                .await?;
            self.parts.push(done);
        }
        Ok(())
    }

    /// Runs `work` (reading the next rows, say) within the deadline while
    /// the part in flight keeps uploading; `stage` names the work in a
    /// timeout. With an upload open, the work stops in time for its abort.
    pub async fn alongside<T>(
        &mut self,
        stage: &'static str,
        work: impl Future<Output = Result<T, ExportError>>,
    ) -> Result<T, ExportError> {
        let reserve = self.reserve();
        let mut in_flight = self.in_flight.take();
        let mut landed = None;
        let mut part_ended = false;
        let result = self
            .deadline
            .run(stage, reserve, async {
                let mut work = std::pin::pin!(work);
                if let Some((_, part)) = in_flight.as_mut() {
                    tokio::select! {
                        out = &mut work => return out,
                        done = part => {
                            part_ended = true;
                            landed = Some(done?);
                        }
                    }
                }
                work.await
            })
            .await;
        if let Some(done) = landed {
            self.parts.push(done);
        } else if !part_ended {
            self.in_flight = in_flight;
        }
        result
    }

    /// Ends the file: the inline body when it fits (a gzip body is checked
    /// at its final size and spills when over), otherwise the last part
    /// and the upload's completion.
    pub async fn finish(&mut self) -> Result<Delivered, ExportError> {
        match std::mem::replace(&mut self.state, State::Upload) {
            State::Inline {
                body: InlineBody::Plain(buf),
                ..
            } => {
                self.state = State::Done;
                return Ok(Delivered::Inline(buf));
            }
            State::Inline {
                inline,
                body: InlineBody::Gzip(encoder),
                ..
            } => {
                let gz = encoder.finish().map_err(ExportError::internal)?;
                if base64_len(gz.len()) <= inline.budget {
                    self.state = State::Done;
                    return Ok(Delivered::Inline(gz));
                }
                self.push_gunzipped(&gz).await?;
            }
            State::Upload => {}
            State::Done => {
                self.state = State::Done;
                return Err(ExportError::internal("the export ended twice"));
            }
        }
        let last = std::mem::take(&mut self.part);
        if !last.is_empty() || (self.parts.is_empty() && self.in_flight.is_none()) {
            self.send(last).await?;
        }
        self.land().await?;
        let upload_id = self.upload_id.clone().unwrap_or_default();
        let parts = std::mem::take(&mut self.parts);
        let (objects, key) = (self.objects, &self.key);
        self.deadline
            .run("uploading the file", ABORT_RESERVE, async {
                objects
                    .complete(key, &upload_id, parts)
                    .await
                    .map_err(|e| e.during("CompleteMultipartUpload"))
            })
            .await?;
        self.upload_id = None;
        self.state = State::Done;
        Ok(Delivered::Uploaded)
    }

    /// Drops what the sink holds and aborts an open upload (within the
    /// deadline; a failed abort is logged). When the upload's creation was
    /// cut or failed, the key's open uploads are listed and aborted: S3 may
    /// have created one whose id never came back (the key is the export's
    /// own, a fresh UUID).
    pub async fn abort(&mut self) {
        self.state = State::Done;
        self.in_flight = None;
        self.part = Vec::new();
        let known = self.upload_id.take();
        if known.is_none() && !std::mem::take(&mut self.create_failed) {
            return;
        }
        tracing::warn!(key = %self.key, "aborting the export upload");
        let (objects, key) = (self.objects, &self.key);
        let abort = self
            .deadline
            .run("aborting the upload", FINISH_RESERVE, async {
                let ids = match known {
                    Some(id) => vec![id],
                    None => objects
                        .uploads_of(key)
                        .await
                        .map_err(|e| e.during("ListMultipartUploads"))?,
                };
                for id in ids {
                    objects
                        .abort(key, &id)
                        .await
                        .map_err(|e| e.during("AbortMultipartUpload"))?;
                }
                Ok(())
            })
            .await;
        if let Err(abort) = abort {
            tracing::error!(error = %abort, "aborting the upload failed");
        }
    }
}
