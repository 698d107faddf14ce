//! The delivery sink: inline answers within the Lambda response budget
//! (text, gzip, binary), spills into multipart uploads of at least 5 MiB
//! with one part in flight, and aborted uploads on failure or deadline.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use flate2::{write::GzEncoder, Compression};
use lead_export::deadline::{Deadline, ABORT_RESERVE};
use lead_export::deliver::*;
use lead_export::error::ExportError;
use lead_export::fields::FieldList;
use lead_export::model::Lead;
use lead_export::request::CsvFormat;

/// A file rendered in memory (an XLSX workbook, say) through the sink, as
/// the handler delivers one: write, finish, abort an open upload on failure.
async fn deliver_bytes(target: Target<'_>, bytes: &[u8]) -> Result<Delivered, ExportError> {
    let mut sink = Sink::new(target);
    let result = async {
        sink.write(bytes).await?;
        sink.finish().await
    }
    .await;
    if result.is_err() {
        sink.abort().await;
    }
    result
}

#[test]
fn json_length_counts_escapes() {
    assert_eq!(json_string_len(b"abc"), 5);
    assert_eq!(json_string_len(b"a\"b\n"), 2 + 6);
    assert_eq!(json_string_len(b"\x01"), 2 + 6);
    assert_eq!(json_string_len("é".as_bytes()), 2 + 2);
    for s in ["plain", "quote\"d", "line\r\nend", "tab\tx\u{1}", "ünï"] {
        assert_eq!(
            json_string_len(s.as_bytes()),
            serde_json::to_string(s).unwrap().len(),
            "{s:?}"
        );
    }
    assert_eq!(base64_len(0), 0);
    assert_eq!(base64_len(4), 8);
}

#[test]
fn inline_limit_never_exceeds_lambdas() {
    assert_eq!(inline_limit(None), LAMBDA_RESPONSE_LIMIT - SAFETY_MARGIN);
    assert_eq!(inline_limit(Some(1000)), 1000);
    assert_eq!(
        inline_limit(Some(usize::MAX)),
        LAMBDA_RESPONSE_LIMIT - SAFETY_MARGIN
    );
}

/// `copies` copies of the golden leads (`tests/data/golden/leads.json`,
/// ids made unique) and the CSV of all their fields with the default
/// options: the golden file's header, then its rows `copies` times (the
/// lead id is no column).
fn golden_copies(copies: usize) -> (Vec<Lead>, Vec<u8>) {
    let golden = crate::golden::golden("csv/comma-crlf-guarded.csv");
    let header_end = golden.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    let (header, rows) = golden.split_at(header_end);
    let mut csv = header.to_vec();
    let mut leads = Vec::new();
    for copy in 0..copies {
        csv.extend_from_slice(rows);
        leads.extend(crate::golden::golden_leads().into_iter().map(|mut l| {
            l.id = format!("{copy:06}-{}", l.id);
            l
        }));
    }
    (leads, csv)
}

fn all_fields() -> FieldList {
    let ids = crate::golden::all_field_ids();
    FieldList::from_ids(ids.iter().map(String::as_str)).unwrap()
}

fn leads(n: usize) -> Vec<Lead> {
    (0..n)
        .map(|i| Lead {
            id: format!("id-{i:05}"),
            first_name: compact_str::format_compact!("First \"{i}\""),
            last_name: "Last".into(),
            job_title: Some(compact_str::format_compact!("Title\n{i}")),
            ..Lead::default()
        })
        .collect()
}

/// `leads` as a store would hand them out, in pages of 100.
fn pages(leads: &[Lead]) -> lead_export::store::LeadPages<'static> {
    let pages: Vec<Result<lead_export::store::Batch, lead_export::store::StoreError>> =
        leads.chunks(100).map(|p| Ok(p.to_vec().into())).collect();
    Box::pin(futures::stream::iter(pages))
}

fn meta() -> ObjectMeta {
    ObjectMeta {
        content_type: "text/csv; charset=utf-8".into(),
        content_disposition: "attachment".into(),
    }
}

fn target<'a>(
    objects: &'a dyn ObjectStore,
    inline: Option<Inline>,
    deadline: &'a Deadline,
) -> Target<'a> {
    Target {
        objects,
        key: "k".into(),
        meta: meta(),
        inline,
        part_size: 0,
        deadline,
    }
}

/// The CSV of `all` through a sink over `objects`: what was delivered,
/// the rows written and the sink's peak.
async fn export(
    objects: &dyn ObjectStore,
    inline: Option<Inline>,
    fields: &FieldList,
    all: &[Lead],
    deadline: &Deadline,
) -> Result<(Delivered, usize), ExportError> {
    let mut sink = Sink::new(target(objects, inline, deadline));
    let format = CsvFormat::default();
    let result = async {
        let n =
            lead_export::export::render::render_csv(&mut sink, pages(all), fields, &format).await?;
        Ok((sink.finish().await?, n.rows))
    }
    .await;
    match result {
        Ok((done, n)) => Ok((done, n)),
        Err(err) => {
            sink.abort().await;
            Err(err)
        }
    }
}

fn text(budget: usize) -> Option<Inline> {
    Some(Inline {
        budget,
        encoding: Encoding::Text,
    })
}

fn gzip(budget: usize) -> Option<Inline> {
    Some(Inline {
        budget,
        encoding: Encoding::Gzip,
    })
}

fn gunzip(gz: &[u8]) -> Vec<u8> {
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut plain)
        .unwrap();
    plain
}

#[tokio::test]
async fn inline_text_respects_the_budget_exactly_and_spills_the_same_bytes() {
    let fields = all_fields();
    let (all, full) = golden_copies(7);
    let need = json_string_len(&full);
    let objects = Failing::default();
    let (got, n) = export(&objects, text(need), &fields, &all, &later())
        .await
        .unwrap();
    assert_eq!((got, n), (Delivered::Inline(full.clone()), 49));
    assert!(objects.inner.keys().is_empty(), "nothing uploaded");
    let (got, n) = export(&objects, text(need - 1), &fields, &all, &later())
        .await
        .unwrap();
    assert_eq!((got, n), (Delivered::Uploaded, 49));
    let (meta_back, bytes) = objects.inner.get("k").unwrap();
    assert_eq!(bytes, full, "the object is the inline file");
    assert_eq!(meta_back, meta());
}

#[tokio::test]
async fn inline_gzip_is_one_stream_and_spills_as_plain_csv() {
    let fields = all_fields();
    let (all, full) = golden_copies(500);
    let objects = Failing::default();
    let (got, _) = export(&objects, gzip(usize::MAX), &fields, &all, &later())
        .await
        .unwrap();
    let Delivered::Inline(gz) = got else {
        panic!("inline expected")
    };
    assert!(gunzip(&gz) == full, "the gzip body is not the golden rows");
    // At most 2% over compressing the whole CSV in one call, same level
    // (the golden rows repeat, so streaming may well come out smaller).
    let mut one = GzEncoder::new(Vec::new(), Compression::fast());
    one.write_all(&full).unwrap();
    let one = one.finish().unwrap();
    let ratio = gz.len() as f64 / one.len() as f64;
    println!(
        "gzip: streamed {} bytes, one call {} bytes, plain {} bytes",
        gz.len(),
        one.len(),
        full.len()
    );
    assert!(ratio <= 1.02, "{} vs {}", gz.len(), one.len());
    // Just over the final size: checked at the end, spills as plain CSV.
    let budget = base64_len(gz.len()) - 4;
    let (got, _) = export(&objects, gzip(budget), &fields, &all, &later())
        .await
        .unwrap();
    assert_eq!(got, Delivered::Uploaded);
    assert_eq!(objects.inner.get("k").unwrap().1, full);
    // A spill in the middle, the gzip bytes so far decompressed into parts.
    let (got, _) = export(&objects, gzip(20_000), &fields, &all, &later())
        .await
        .unwrap();
    assert_eq!(got, Delivered::Uploaded);
    assert_eq!(objects.inner.get("k").unwrap().1, full);
    assert_eq!(objects.inner.open_uploads(), 0);
}

#[tokio::test]
async fn binary_bytes_are_counted_in_base64() {
    let bytes: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let objects = Failing::default();
    let deadline = later();
    let inline = |budget| {
        Some(Inline {
            budget,
            encoding: Encoding::Binary,
        })
    };
    let got = deliver_bytes(target(&objects, inline(4000), &deadline), &bytes)
        .await
        .unwrap();
    assert_eq!(got, Delivered::Inline(bytes.clone()));
    let got = deliver_bytes(target(&objects, inline(3999), &deadline), &bytes)
        .await
        .unwrap();
    assert_eq!(got, Delivered::Uploaded);
    assert_eq!(objects.inner.get("k").unwrap().1, bytes);
}

#[tokio::test]
async fn an_empty_selection_writes_and_uploads_nothing() {
    let deadline = later();
    let fields = FieldList::defaults();
    // Inline: the body stays empty (not even the header).
    let objects = Failing::default();
    let mut sink = Sink::new(target(&objects, text(1_000_000), &deadline));
    let n = lead_export::export::render::render_csv(
        &mut sink,
        pages(&[]),
        &fields,
        &CsvFormat::default(),
    )
    .await
    .unwrap();
    assert_eq!(n.rows, 0);
    assert_eq!(
        sink.finish().await.unwrap(),
        Delivered::Inline(Vec::new()),
        "not even the header"
    );
    // Always uploading: no upload is started.
    let objects = Failing::default();
    let mut sink = Sink::new(target(&objects, None, &deadline));
    let n = lead_export::export::render::render_csv(
        &mut sink,
        pages(&[]),
        &fields,
        &CsvFormat::default(),
    )
    .await
    .unwrap();
    assert_eq!(n.rows, 0);
    sink.abort().await;
    assert_eq!(objects.creates.load(Ordering::SeqCst), 0);
    assert_eq!(objects.inner.open_uploads(), 0);
}

/// The in-memory object store, failing a chosen step; records the
/// sizes of the parts handed to it, the uploads created and the most
/// parts uploading at once.
#[derive(Default)]
struct Failing {
    inner: memory::MemoryObjects,
    fail_part: Option<i32>,
    fail_complete: bool,
    slow_part: Option<Duration>,
    part_sizes: Mutex<Vec<usize>>,
    creates: AtomicUsize,
    uploading: AtomicUsize,
    most_uploading: AtomicUsize,
}

#[async_trait]
impl ObjectStore for Failing {
    async fn create_multipart(
        &self,
        key: &str,
        meta: &ObjectMeta,
    ) -> Result<String, ObjectStoreError> {
        self.creates.fetch_add(1, Ordering::SeqCst);
        self.inner.create_multipart(key, meta).await
    }
    async fn upload_part(
        &self,
        key: &str,
        id: &str,
        number: i32,
        body: Vec<u8>,
    ) -> Result<String, ObjectStoreError> {
        if self.fail_part == Some(number) {
            return Err(ObjectStoreError::other("injected part failure"));
        }
        let now = self.uploading.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_uploading.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(self.slow_part.unwrap_or(Duration::from_millis(1))).await;
        self.uploading.fetch_sub(1, Ordering::SeqCst);
        self.part_sizes.lock().unwrap().push(body.len());
        self.inner.upload_part(key, id, number, body).await
    }
    async fn complete(
        &self,
        key: &str,
        id: &str,
        parts: Vec<(i32, String)>,
    ) -> Result<(), ObjectStoreError> {
        if self.fail_complete {
            return Err(ObjectStoreError::transient("injected complete failure"));
        }
        self.inner.complete(key, id, parts).await
    }
    async fn abort(&self, key: &str, id: &str) -> Result<(), ObjectStoreError> {
        self.inner.abort(key, id).await
    }
    async fn size_of(&self, key: &str) -> Result<Option<u64>, ObjectStoreError> {
        self.inner.size_of(key).await
    }
    async fn uploads_of(&self, key: &str) -> Result<Vec<String>, ObjectStoreError> {
        self.inner.uploads_of(key).await
    }
    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String, ObjectStoreError> {
        self.inner.presign_get(key, ttl).await
    }
}

#[tokio::test]
async fn parts_are_at_least_5_mib_one_in_flight_and_memory_stays_about_two_parts() {
    let fields = all_fields();
    let (all, full) = golden_copies(6_000);
    for inline in [None, text(1_000_000), gzip(100_000)] {
        let store = Failing::default();
        let (got, n) = export(&store, inline, &fields, &all, &later())
            .await
            .unwrap();
        assert_eq!((got, n), (Delivered::Uploaded, all.len()));
        let sizes = store.part_sizes.lock().unwrap().clone();
        assert!(sizes.len() >= 2, "{sizes:?}");
        for size in &sizes[..sizes.len() - 1] {
            assert_eq!(*size, MIN_PART_SIZE, "{sizes:?}");
        }
        assert_eq!(sizes.iter().sum::<usize>(), full.len());
        assert!(
            store.inner.get("k").unwrap().1 == full,
            "{inline:?}: the object is not the golden rows"
        );
        // One part in flight at a time; the memory this holds is measured
        // by a counting allocator in tests/sink_memory.rs.
        assert_eq!(store.most_uploading.load(Ordering::SeqCst), 1);
    }
}

#[tokio::test]
async fn a_failed_part_or_completion_aborts_the_upload() {
    let fields = FieldList::defaults();
    let all = leads(10);
    for (store, status) in failing_part_or_completion(1) {
        let err = export(&store, None, &fields, &all, &later())
            .await
            .unwrap_err();
        assert_eq!(err.status().as_u16(), status, "{err}");
        assert_eq!(store.creates.load(Ordering::SeqCst), 1);
        assert_eq!(store.inner.open_uploads(), 0, "upload left open");
        assert!(store.inner.keys().is_empty(), "object left behind");
    }
}

/// Stores whose part `part` fails (a 500), or whose completion fails
/// (a 503), with the status each export answers.
fn failing_part_or_completion(part: i32) -> [(Failing, u16); 2] {
    [
        (
            Failing {
                fail_part: Some(part),
                ..Failing::default()
            },
            500,
        ),
        (
            Failing {
                fail_complete: true,
                ..Failing::default()
            },
            503,
        ),
    ]
}

fn later() -> Deadline {
    Deadline::after(Duration::from_secs(60))
}

#[tokio::test]
async fn an_upload_cut_by_the_deadline_is_aborted_in_time() {
    let fields = FieldList::defaults();
    let all = leads(10);
    let store = Failing {
        slow_part: Some(Duration::from_secs(30)),
        ..Failing::default()
    };
    let deadline = Deadline::after(
        lead_export::deadline::RESPONSE_MARGIN + ABORT_RESERVE + Duration::from_millis(200),
    );
    let err = export(&store, None, &fields, &all, &deadline)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ExportError::Timeout {
                stage: "uploading the file"
            }
        ),
        "{err}"
    );
    assert!(tokio::time::Instant::now() < deadline.answer_by());
    assert_eq!(store.inner.open_uploads(), 0, "upload left open");
    assert!(store.inner.keys().is_empty(), "object left behind");
    // No time left for an upload: nothing is started.
    let none = Deadline::after(lead_export::deadline::RESPONSE_MARGIN);
    let store = Failing::default();
    let err = export(&store, None, &fields, &all, &none)
        .await
        .unwrap_err();
    assert!(matches!(err, ExportError::Timeout { .. }), "{err}");
    assert_eq!(store.creates.load(Ordering::SeqCst), 0);
    assert_eq!(store.inner.open_uploads(), 0);
}

#[tokio::test]
async fn uploaded_bytes_come_back_whole_in_parts_of_at_least_5_mib() {
    let bytes: Vec<u8> = (0..MIN_PART_SIZE * 2 + 123)
        .map(|i| (i % 251) as u8)
        .collect();
    let store = Failing::default();
    let deadline = later();
    let mut to = target(&store, None, &deadline);
    to.key = "k.xlsx".into();
    to.part_size = 0;
    assert_eq!(
        deliver_bytes(to, &bytes).await.unwrap(),
        Delivered::Uploaded
    );
    let sizes = store.part_sizes.lock().unwrap().clone();
    assert_eq!(sizes, [MIN_PART_SIZE, MIN_PART_SIZE, 123]);
    let (stored_meta, stored) = store.inner.get("k.xlsx").unwrap();
    assert_eq!(stored_meta, meta());
    assert_eq!(stored, bytes);
}

#[tokio::test]
async fn a_failed_byte_upload_is_aborted() {
    let bytes = vec![7u8; MIN_PART_SIZE + 1];
    for (store, status) in failing_part_or_completion(2) {
        let deadline = later();
        let mut to = target(&store, None, &deadline);
        to.key = "k".into();
        to.part_size = 0;
        let err = deliver_bytes(to, &bytes).await.unwrap_err();
        assert_eq!(err.status().as_u16(), status, "{err}");
        assert_eq!(store.inner.open_uploads(), 0, "upload left open");
        assert!(store.inner.keys().is_empty(), "object left behind");
    }
}
