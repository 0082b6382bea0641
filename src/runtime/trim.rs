//! Giving memory back after many chats ended. glibc's allocator keeps what freed chats leave
//! in its arenas, so after a burst of 10,000 chats closed the daemon's RSS stayed near its
//! peak and grew a little with each burst (the load bench's idle rounds). `malloc_trim(0)`
//! returns the free pages of every arena to the system.
//!
//! The dispatcher asks [`Trim::after_end`] after each chat ended; it says when a trim is worth
//! it: at least [`MIN_FREED`] chats ended since the last one and half of the chats open at the
//! peak are gone, or every chat has ended. The trim runs on a blocking thread (it walks the
//! heap), so a burst of ends costs a handful of trims, never one per chat.

/// Fewer chats than this ending is not worth a trim (unless they all ended).
const MIN_FREED: usize = 1_000;
/// Chats open at the peak for a trim when all have ended.
const MIN_PEAK_FOR_EMPTY: usize = 100;

/// When to trim: the peak of open chats since the last trim.
#[derive(Debug, Default)]
pub(crate) struct Trim {
    peak: usize,
}

impl Trim {
    /// A chat started: `open` chats now.
    pub(crate) fn after_start(&mut self, open: usize) {
        self.peak = self.peak.max(open);
    }

    /// A chat ended, `open` are left: whether to trim now (the peak restarts from `open`).
    pub(crate) fn after_end(&mut self, open: usize) -> bool {
        let freed = self.peak.saturating_sub(open);
        let due = (freed >= MIN_FREED && open <= self.peak / 2)
            || (open == 0 && self.peak >= MIN_PEAK_FOR_EMPTY);
        if due {
            self.peak = open;
        }
        due
    }
}

/// Give the allocator's free memory back to the system, off the runtime threads.
pub(crate) fn release() {
    tokio::task::spawn_blocking(|| {
        let started = tokio::time::Instant::now();
        let released = trim_heap();
        tracing::debug!(released, took = ?started.elapsed(), "gave freed memory back to the system");
    });
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[expect(unsafe_code, reason = "glibc's malloc_trim has no safe wrapper")]
fn trim_heap() -> bool {
    // SAFETY: malloc_trim takes no pointers and may be called from any thread at any time.
    unsafe { libc::malloc_trim(0) == 1 }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim_heap() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_ends_trims_a_few_times_and_when_all_are_gone() {
        let mut trim = Trim::default();
        for open in 1..=10_000 {
            trim.after_start(open);
        }
        let trims: Vec<usize> = (0..10_000)
            .rev()
            .filter(|&open| trim.after_end(open))
            .collect();
        assert_eq!(trims, [5_000, 2_500, 1_250, 250, 0]);
    }

    #[test]
    fn a_few_chats_ending_never_trim() {
        let mut trim = Trim::default();
        for round in 0..100 {
            trim.after_start(50 + round % 3);
            assert!(!trim.after_end(49));
        }
        trim.after_start(60);
        // All gone, but there were never many.
        assert!(!trim.after_end(0));
    }

    #[test]
    fn ends_and_starts_interleaved_trim_only_after_a_real_drop() {
        let mut trim = Trim::default();
        trim.after_start(3_000);
        assert!(!trim.after_end(2_000));
        trim.after_start(2_500);
        assert!(trim.after_end(1_500));
        assert!(!trim.after_end(1_400));
    }
}
