//! Exponential back-off with jitter, shared by the REST retries and the CometD reconnect loop.
//!
//! A [`Backoff`] is the immutable policy; [`Backoff::delays`] hands out a [`Delays`] sequence
//! that one retry loop owns and resets after a success. With `jitter == 0.0` the sequence is
//! fully deterministic, which is what the timer tests rely on.

use std::time::Duration;

use rand::Rng;

/// First delay of the default policy.
pub const DEFAULT_INITIAL: Duration = Duration::from_secs(1);
/// Ceiling of the default policy.
pub const DEFAULT_MAX: Duration = Duration::from_secs(30);
/// Jitter of the default policy: each delay is shortened by up to 20 %.
pub const DEFAULT_JITTER: f64 = 0.2;

/// A back-off policy: delays start at `initial`, double after every failure up to `max`, and
/// each delay is shortened by a random fraction of up to `jitter` so that many clients do not
/// retry in lockstep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    /// Between 0.0 (deterministic) and 1.0.
    jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(DEFAULT_INITIAL, DEFAULT_MAX, DEFAULT_JITTER)
    }
}

impl Backoff {
    /// A policy; `max` is raised to `initial` when smaller, and `jitter` is clamped to
    /// `0.0..=1.0` (a NaN jitter counts as 0).
    pub fn new(initial: Duration, max: Duration, jitter: f64) -> Self {
        let jitter = if jitter.is_nan() {
            0.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        Backoff {
            initial,
            max: max.max(initial),
            jitter,
        }
    }

    /// The first delay.
    pub fn initial(&self) -> Duration {
        self.initial
    }

    /// The longest delay this policy produces.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The jitter fraction.
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    /// A fresh sequence of delays, starting at `initial`.
    pub fn delays(&self) -> Delays {
        Delays {
            policy: *self,
            next: self.initial,
        }
    }
}

/// One retry loop's position in a [`Backoff`] sequence.
#[derive(Debug, Clone)]
pub struct Delays {
    policy: Backoff,
    /// The un-jittered delay the next call returns.
    next: Duration,
}

impl Delays {
    /// The delay to wait before the next attempt; each call doubles the following one, up to
    /// the policy's maximum.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = base.saturating_mul(2).min(self.policy.max);
        if self.policy.jitter == 0.0 {
            return base;
        }
        let cut: f64 = rand::rng().random_range(0.0..=self.policy.jitter);
        base.mul_f64(1.0 - cut)
    }

    /// Start again from the initial delay (after a success).
    pub fn reset(&mut self) {
        self.next = self.policy.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn default_doubles_from_one_second_to_thirty() {
        let policy = Backoff::default();
        assert_eq!(policy.initial(), secs(1));
        assert_eq!(policy.max(), secs(30));
        assert_eq!(policy.jitter(), 0.2);
    }

    #[test]
    fn zero_jitter_is_deterministic_and_capped() {
        let mut d = Backoff::new(secs(1), secs(30), 0.0).delays();
        let got: Vec<_> = (0..8).map(|_| d.next_delay()).collect();
        assert_eq!(
            got,
            [1, 2, 4, 8, 16, 30, 30, 30].map(secs).to_vec(),
            "doubling must stop at the maximum"
        );
    }

    #[test]
    fn reset_starts_over() {
        let mut d = Backoff::new(Duration::from_millis(100), secs(5), 0.0).delays();
        d.next_delay();
        d.next_delay();
        assert_eq!(d.next_delay(), Duration::from_millis(400));
        d.reset();
        assert_eq!(d.next_delay(), Duration::from_millis(100));
    }

    #[test]
    fn jitter_only_shortens_within_the_fraction() {
        let mut d = Backoff::new(secs(10), secs(10), 0.5).delays();
        for _ in 0..200 {
            let delay = d.next_delay();
            assert!(delay <= secs(10), "{delay:?} exceeds the base delay");
            assert!(
                delay >= secs(5),
                "{delay:?} is shorter than base * (1 - jitter)"
            );
        }
    }

    #[test]
    fn constructor_sanitises_its_input() {
        let p = Backoff::new(secs(5), secs(1), 7.0);
        assert_eq!(p.max(), secs(5), "max below initial is raised");
        assert_eq!(p.jitter(), 1.0, "jitter above 1 is clamped");
        assert_eq!(Backoff::new(secs(1), secs(2), f64::NAN).jitter(), 0.0);
        assert_eq!(Backoff::new(secs(1), secs(2), -0.5).jitter(), 0.0);
    }
}
