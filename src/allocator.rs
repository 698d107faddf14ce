//! The allocator's settings, applied by each Lambda binary first thing in
//! `main` (the binaries choose mimalloc as their global allocator).
//!
//! mimalloc returns freed memory to the OS after a delay (`purge_delay`,
//! 1 s in mimalloc 3), so an export that comes more than a second after the
//! previous one faults its working set in again: the kernel zeroes each page
//! (2 MiB ones where transparent huge pages are on) on first touch. In the
//! flame graph of the manual export (`make side-by-side`,
//! docs/performance.md) page faults were 7.7% of the server's samples, and
//! 0.5% with purging off. A Lambda sandbox serves one invocation at a time
//! and its memory is reserved for it whether used or not, so the freed
//! memory is kept for the next invocation: the resident size stays at its
//! peak, which `make bench` measures anyway (VmHWM). Transparent huge pages
//! are off (the `no_thp` feature of `libmimalloc-sys`, `Cargo.toml`): with
//! them that peak was about twice as high.

/// mimalloc's `mi_option_purge_delay`: its place in the enum `mi_option_e`
/// of `mimalloc.h` (the same in mimalloc 2 and 3; `libmimalloc-sys` does
/// not name it). A unit test checks that it is the option whose default is
/// mimalloc 3's purge delay, 1,000 ms.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Never return freed memory to the OS (mimalloc's `purge_delay` -1),
/// unless the environment sets `MIMALLOC_PURGE_DELAY` (mimalloc's own
/// setting, in milliseconds): an operator's explicit choice wins.
pub fn keep_freed_memory() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
        return;
    }
    // SAFETY: sets one of mimalloc's global options, which mimalloc allows
    // at any time from any thread.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, -1) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_option_is_the_purge_delay_and_is_turned_off() {
        // SAFETY: reads and sets mimalloc's global options.
        let before = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        assert_eq!(before, 1_000, "mimalloc 3's default purge delay");
        keep_freed_memory();
        assert_eq!(unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) }, -1);
    }
}
