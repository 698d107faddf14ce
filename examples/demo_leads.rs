//! `cargo run --example demo_leads -- N SEED`: the `N` demo leads of `SEED`
//! (`lead_export::demo::demo_leads`, what `seed-demo` and `workloads seed`
//! write) as JSON Lines on stdout, one lead document a line, in generation
//! order. `scripts/side-by-side.py` loads them into the Python reference
//! handler's own table, so both tables hold the same leads.

use std::io::{BufWriter, Write};

use lead_export::demo::demo_leads;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, name: &str| -> u64 {
        args.get(i).and_then(|a| a.parse().ok()).unwrap_or_else(|| {
            eprintln!("usage: demo_leads N SEED ({name}: expected a number)");
            std::process::exit(2);
        })
    };
    let (n, seed) = (arg(0, "N") as usize, arg(1, "SEED"));
    let mut out = BufWriter::new(std::io::stdout().lock());
    for lead in demo_leads(seed, n) {
        serde_json::to_writer(&mut out, &lead).expect("a lead serializes");
        out.write_all(b"\n").expect("stdout");
    }
    out.flush().expect("stdout");
}
