//! What building the largest XLSX export holds in memory: a counting
//! allocator (this test binary's only test) records the peak of live heap
//! bytes while `xlsx::to_xlsx` writes 10,000 rows (the most a manual
//! export may hold) of all 27 fields of demo leads. The figure is printed
//! (docs/formats.md quotes it) and bounded well inside the function's 1024 MB.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use lead_export::demo::demo_leads;
use lead_export::fields::{Field, FieldList};

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
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MIB: f64 = 1024.0 * 1024.0;

#[test]
fn a_10000_row_workbook_of_all_fields_stays_bounded() {
    let leads = demo_leads(1, 10_000);
    let fields = FieldList::from_ids(Field::ALL.iter().map(|f| f.id())).unwrap();
    let csv = lead_export::csv_export::to_csv(&fields, &leads, &Default::default());
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let xlsx = lead_export::xlsx::to_xlsx(
        &fields,
        &leads,
        &lead_export::deadline::Deadline::after(std::time::Duration::from_secs(600)),
    )
    .unwrap();
    let peak = PEAK.load(Ordering::Relaxed) - before;
    println!(
        "10,000 rows x 27 fields: CSV {:.1} MiB, XLSX {:.1} MiB, peak heap while building the XLSX {:.1} MiB (beyond the leads)",
        csv.len() as f64 / MIB,
        xlsx.len() as f64 / MIB,
        peak as f64 / MIB
    );
    assert!(xlsx.len() > 100_000, "a real workbook");
    assert!(
        peak < 400 * 1024 * 1024,
        "building the workbook peaked at {:.1} MiB",
        peak as f64 / MIB
    );
}
