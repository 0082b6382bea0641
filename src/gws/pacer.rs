//! A ceiling on the REST request rate of one session: requests are spaced at least
//! `1 / rate` apart, so that bursts (many chats answering at once, a recovery after a
//! restart) never trip a server's DoS filter. Waiting is per request; nothing is dropped.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Spaces requests evenly at a maximum rate.
#[derive(Debug)]
pub struct Pacer {
    gap: Duration,
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    /// A pacer for at most `per_second` requests per second; `None` for 0 (no ceiling).
    pub fn new(per_second: u32) -> Option<Pacer> {
        (per_second > 0).then(|| Pacer {
            gap: Duration::from_secs(1) / per_second,
            next: Mutex::new(None),
        })
    }

    /// Wait for this request's slot.
    pub async fn wait(&self) {
        let slot = {
            let mut next = self.next.lock().await;
            let now = Instant::now();
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.gap);
            slot
        };
        tokio::time::sleep_until(slot).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn requests_are_spaced_to_the_ceiling() {
        assert!(Pacer::new(0).is_none());
        let pacer = std::sync::Arc::new(Pacer::new(10).unwrap());
        let start = Instant::now();
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let p = pacer.clone();
                tokio::spawn(async move {
                    p.wait().await;
                    Instant::now()
                })
            })
            .collect();
        let mut times = Vec::new();
        for t in tasks {
            times.push(t.await.unwrap() - start);
        }
        times.sort();
        // 20 requests at 10/s: the last waits 1.9 s, and no second holds more than 10.
        assert_eq!(times[0], Duration::ZERO);
        assert_eq!(times[19], Duration::from_millis(1900));
        assert_eq!(
            times
                .iter()
                .filter(|t| **t < Duration::from_secs(1))
                .count(),
            10
        );
    }
}
