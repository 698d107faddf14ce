//! What the delivery sink holds while an export spills into a multipart
//! upload, measured by a counting global allocator (a test binary of its
//! own: the allocator is per binary; one test, so nothing else allocates
//! meanwhile) rather than from the sink's own account. 120,000 leads of every field (about 34 MB of CSV) are rendered
//! through a sink into an object store that keeps nothing (it drops each
//! part after counting it), plain, gzip and JSON-link; the peak of live
//! heap bytes beyond what was live before (the leads are made a page at a
//! time as the stream hands them out, as a store reads them) must stay
//! within two parts (the one filling, the one in flight) plus what the
//! documents allow beside them (docs/delivery.md): a gunzip block, the
//! spilled gzip body (its inline budget), a page of leads, and 1 MiB for
//! the rest (a row, the encoder's state, the runtime). The figures are
//! printed.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use lead_export::deadline::Deadline;
use lead_export::deliver::{
    Delivered, Encoding, Inline, ObjectMeta, ObjectStore, ObjectStoreError, Sink, Target,
    GUNZIP_BLOCK, MIN_PART_SIZE,
};
use lead_export::fields::{Field, FieldList};
use lead_export::model::{Company, Lead};
use lead_export::request::CsvFormat;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(live, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let grow = new_size - layout.size();
                let live = LIVE.fetch_add(grow, Ordering::Relaxed) + grow;
                // The old and the new block may both be live while copying.
                PEAK.fetch_max(live + layout.size(), Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MIB: f64 = 1024.0 * 1024.0;
const LEADS: usize = 120_000;
/// The inline budget of the gzip case: what a spilled gzip body held.
const GZIP_BUDGET: usize = 100_000;
/// Leads per page, as the stores hand them out.
const PAGE: usize = 100;

/// An object store that keeps no bytes: it counts the parts and their
/// sizes and drops them.
#[derive(Default)]
struct Discarding {
    parts: Mutex<Vec<usize>>,
    completed: AtomicUsize,
}

#[async_trait]
impl ObjectStore for Discarding {
    async fn create_multipart(
        &self,
        _key: &str,
        _meta: &ObjectMeta,
    ) -> Result<String, ObjectStoreError> {
        Ok("upload".into())
    }
    async fn upload_part(
        &self,
        _key: &str,
        _id: &str,
        number: i32,
        body: Vec<u8>,
    ) -> Result<String, ObjectStoreError> {
        tokio::time::sleep(Duration::from_millis(1)).await;
        self.parts.lock().unwrap().push(body.len());
        Ok(format!("etag-{number}"))
    }
    async fn complete(
        &self,
        _key: &str,
        _id: &str,
        _parts: Vec<(i32, String)>,
    ) -> Result<(), ObjectStoreError> {
        self.completed.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    async fn abort(&self, _key: &str, _id: &str) -> Result<(), ObjectStoreError> {
        Ok(())
    }
    async fn size_of(&self, _key: &str) -> Result<Option<u64>, ObjectStoreError> {
        // Nothing is kept.
        Ok(None)
    }
    async fn uploads_of(&self, _key: &str) -> Result<Vec<String>, ObjectStoreError> {
        // Nothing is kept: no upload is ever left open here.
        Ok(Vec::new())
    }
    async fn presign_get(&self, key: &str, _ttl: Duration) -> Result<String, ObjectStoreError> {
        Ok(format!("https://example.invalid/{key}"))
    }
}

/// The leads of page `page`, made when the stream hands the page out (so
/// that only the pages in flight are live, as with a store).
fn page(page: usize) -> Vec<Lead> {
    (page * PAGE..(page + 1) * PAGE)
        .map(|i| Lead {
            id: format!("id-{i:06}"),
            first_name: compact_str::format_compact!("First \"{i}\""),
            last_name: "Last".into(),
            emails: Some(vec![compact_str::format_compact!("first.{i}@example.com")]),
            job_title: Some(compact_str::format_compact!("Title\n{i}")),
            city: Some("Zürich".into()),
            company: Some(Company {
                name: Some(compact_str::format_compact!("Company {i}, Inc.")),
                summary: Some("A company summary of some length, with a comma.".into()),
                founded_year: Some(2000),
                ..Company::default()
            }),
            ..Lead::default()
        })
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn a_spilled_export_holds_about_two_parts() {
    let fields = FieldList::from_ids(Field::ALL.iter().map(|f| f.id())).unwrap();
    let deadline = Deadline::after(Duration::from_secs(600));
    let meta = ObjectMeta {
        content_type: "text/csv; charset=utf-8".into(),
        content_disposition: "attachment".into(),
    };
    let bound = 2 * MIN_PART_SIZE + GUNZIP_BLOCK + GZIP_BUDGET + 1024 * 1024;
    let mut over = Vec::new();
    for (name, inline) in [
        ("link (no inline)", None),
        (
            "plain, spilled",
            Some(Inline {
                budget: 1_000_000,
                encoding: Encoding::Text,
            }),
        ),
        (
            "gzip, spilled",
            Some(Inline {
                budget: GZIP_BUDGET,
                encoding: Encoding::Gzip,
            }),
        ),
    ] {
        let objects = Discarding::default();
        let pages = futures::stream::iter((0..LEADS / PAGE).map(|p| {
            Ok::<lead_export::store::Batch, lead_export::store::StoreError>(page(p).into())
        }));
        let before = LIVE.load(Ordering::SeqCst);
        PEAK.store(before, Ordering::SeqCst);
        let mut sink = Sink::new(Target {
            objects: &objects,
            key: "k".into(),
            meta: meta.clone(),
            inline,
            part_size: 0,
            deadline: &deadline,
        });
        let n = lead_export::export::render::render_csv(
            &mut sink,
            Box::pin(pages),
            &fields,
            &CsvFormat::default(),
        )
        .await
        .unwrap()
        .rows;
        let done = sink.finish().await.unwrap();
        drop(sink);
        let peak = PEAK.load(Ordering::SeqCst) - before;
        let parts = objects.parts.lock().unwrap().clone();
        let total: usize = parts.iter().sum();
        println!(
            "{name}: {n} rows, {:.1} MiB in {} parts; peak heap beyond the leads {:.2} MiB \
             (bound {:.2} MiB)",
            total as f64 / MIB,
            parts.len(),
            peak as f64 / MIB,
            bound as f64 / MIB,
        );
        assert_eq!((done, n), (Delivered::Uploaded, LEADS), "{name}");
        assert!(parts.len() >= 3, "{name}: {parts:?}");
        assert_eq!(objects.completed.load(Ordering::SeqCst), 1, "{name}");
        if peak > bound {
            over.push(format!("{name}: {:.2} MiB", peak as f64 / MIB));
        }
        // Not a vacuous measure: the part filling is on the heap.
        assert!(peak > MIN_PART_SIZE, "{name}: {peak}");
    }
    assert!(
        over.is_empty(),
        "held more than {:.2} MiB at the peak: {over:?}",
        bound as f64 / MIB
    );
}
