//! Log capture for tests: a JSON `tracing` subscriber at TRACE writing to a
//! shared buffer (as `tests/it/observe.rs` captures), set as the thread's
//! default by the test; the lines read back as JSON.

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// Everything the subscriber writes.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

impl Captured {
    /// A JSON subscriber at TRACE writing here; the caller sets it as the
    /// default (`tracing::subscriber::set_default`) and keeps the guard.
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync {
        tracing_subscriber::fmt()
            .json()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(self.clone())
            .finish()
    }

    /// Forgets what was written so far.
    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
    }

    /// The lines written, as text.
    pub fn lines(&self) -> Vec<String> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The lines written, each parsed as JSON.
    pub fn json_lines(&self) -> Vec<Value> {
        String::from_utf8(self.0.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}
