//! The one notion of an invocation's deadline: when the answer is due, and
//! until when each stage may run. Built once per request in `http::handle`
//! (from the Lambda context when it is plausible, otherwise the configured
//! timeout) and passed down.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

use crate::error::ExportError;

/// The answer goes out at least this long before the invocation's deadline,
/// so the gateway gets our 504 rather than timing out itself.
pub const RESPONSE_MARGIN: Duration = Duration::from_secs(2);
/// Work stops this long before the answer is due, to build and log it.
pub const FINISH_RESERVE: Duration = Duration::from_millis(100);
/// An upload stops this long before the answer is due, so that aborting it
/// still fits.
pub const ABORT_RESERVE: Duration = Duration::from_secs(1);

/// The longest a Lambda invocation runs (15 minutes), with a second for the
/// clocks of the runtime and the sandbox to differ.
pub const MAX_INVOCATION: Duration = Duration::from_secs(15 * 60 + 1);

/// When the answer of one request is due (the invocation's deadline less
/// [`RESPONSE_MARGIN`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    answer_by: Instant,
}

impl Deadline {
    /// The invocation ends `timeout` from now.
    pub fn after(timeout: Duration) -> Self {
        let now = Instant::now();
        Deadline {
            answer_by: now + timeout.saturating_sub(RESPONSE_MARGIN),
        }
    }

    /// The deadline a Lambda runtime gave (`Lambda-Runtime-Deadline-Ms`,
    /// milliseconds since the Unix epoch), when it can be right: later than
    /// now and at most [`MAX_INVOCATION`] away. Anything else (0, a past
    /// time, a duration sent where a time is due, a date decades ahead, as
    /// some local emulators send) is treated as unknown: `fallback` from now,
    /// with one warning in the log.
    pub fn from_runtime(millis: u64, fallback: Duration) -> Self {
        let end = UNIX_EPOCH + Duration::from_millis(millis);
        match end.duration_since(SystemTime::now()) {
            Ok(left) if !left.is_zero() && left <= MAX_INVOCATION => Self::after(left),
            _ => {
                tracing::warn!(
                    runtime_deadline_ms = millis,
                    fallback_seconds = fallback.as_secs(),
                    "the runtime's deadline is past or beyond Lambda's 15-minute maximum; \
                     using EXPORT_TIMEOUT_SECONDS"
                );
                Self::after(fallback)
            }
        }
    }

    /// When the answer is due.
    pub fn answer_by(&self) -> Instant {
        self.answer_by
    }

    /// Time left until the answer is due.
    pub fn remaining(&self) -> Duration {
        self.answer_by.saturating_duration_since(Instant::now())
    }

    /// The instant `reserve` before the answer is due.
    fn stop_at(&self, reserve: Duration) -> Instant {
        self.answer_by
            .checked_sub(reserve)
            .unwrap_or(self.answer_by)
    }

    /// `ExportError::Timeout { stage }` once `reserve` before the answer is
    /// due has come, `Ok` before: what CPU-bound work (rendering, gzip, the
    /// workbook), which no timer can cut on a single-threaded runtime, calls
    /// as it goes.
    pub fn check(&self, stage: &'static str, reserve: Duration) -> Result<(), ExportError> {
        if Instant::now() >= self.stop_at(reserve) {
            return Err(ExportError::Timeout { stage });
        }
        Ok(())
    }

    /// Runs `work` until it ends, or until `reserve` before the answer is
    /// due: then `work` is dropped (cancelled) and the result is
    /// `ExportError::Timeout { stage }`. Work is not started when that time
    /// has already come. (Work that never yields, CPU-bound, cannot be cut
    /// here: it calls [`Deadline::check`] as it goes.)
    pub async fn run<T>(
        &self,
        stage: &'static str,
        reserve: Duration,
        work: impl Future<Output = Result<T, ExportError>>,
    ) -> Result<T, ExportError> {
        self.check(stage, reserve)?;
        let stop = self.stop_at(reserve);
        tokio::time::timeout_at(stop, work)
            .await
            .unwrap_or(Err(ExportError::Timeout { stage }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_answer_is_due_two_seconds_before_the_end() {
        let d = Deadline::after(Duration::from_secs(10));
        let left = d.remaining();
        assert!(left <= Duration::from_secs(8) && left > Duration::from_millis(7900));
        assert_eq!(
            Deadline::after(Duration::from_secs(1)).remaining(),
            Duration::ZERO
        );
        let lambda = Deadline::from_runtime(now_ms() + 29_000, Duration::from_secs(300));
        let left = lambda.remaining();
        assert!(left <= Duration::from_secs(27) && left > Duration::from_millis(26_500));
    }

    fn now_ms() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    }

    /// Remaining time of the fallback (25 s less the 2 s margin), give or
    /// take the test's own time.
    fn is_fallback(d: Deadline) -> bool {
        let left = d.remaining();
        left <= Duration::from_secs(23) && left > Duration::from_millis(22_500)
    }

    #[tokio::test]
    async fn a_runtime_deadline_that_cannot_be_right_is_not_obeyed() {
        let fallback = Duration::from_secs(25);
        // 0, a past time, cargo-lambda's 600000 (a duration, 1970 as a
        // time), a time decades ahead, just past the 15-minute maximum.
        for millis in [
            0,
            1_000,
            600_000,
            now_ms() - 5_000,
            now_ms() + 40 * 365 * 24 * 3_600_000,
            now_ms() + 15 * 60_000 + 5_000,
        ] {
            assert!(
                is_fallback(Deadline::from_runtime(millis, fallback)),
                "{millis}"
            );
        }
        // A plausible one is obeyed, up to the 15-minute maximum.
        let full = Deadline::from_runtime(now_ms() + 15 * 60_000, fallback);
        assert!(full.remaining() > Duration::from_secs(15 * 60 - 3));
        let short = Deadline::from_runtime(now_ms() + 3_000, fallback);
        assert!(short.remaining() <= Duration::from_secs(1));
    }

    #[tokio::test]
    async fn slow_work_is_cut_before_the_answer_is_due() {
        let d = Deadline::after(RESPONSE_MARGIN + Duration::from_millis(300));
        let started = Instant::now();
        let got: Result<(), _> = d
            .run("reading", FINISH_RESERVE, async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok(())
            })
            .await;
        assert!(matches!(
            got,
            Err(ExportError::Timeout { stage: "reading" })
        ));
        assert!(Instant::now() < d.answer_by());
        assert!(started.elapsed() >= Duration::from_millis(150));
        // Once the stop has come, work is not even started; before, quick
        // work finishes.
        let quick = Deadline::after(RESPONSE_MARGIN + Duration::from_secs(5));
        assert_eq!(
            quick
                .run("x", FINISH_RESERVE, async { Ok(7) })
                .await
                .unwrap(),
            7
        );
        let started = std::sync::atomic::AtomicBool::new(false);
        let late = d
            .run("uploading", Duration::from_secs(1), async {
                started.store(true, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            })
            .await;
        assert!(matches!(late, Err(ExportError::Timeout { .. })));
        assert!(!started.load(std::sync::atomic::Ordering::SeqCst));
    }
}
