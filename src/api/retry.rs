//! When and how long to wait before trying a request again.
//!
//! At most [`RetryPolicy::max_tries`] tries (5). Between tries tsacl waits
//! `base * 2^(n-1)`, capped at `max_delay`, with "equal jitter" (a random time between
//! half and all of it) so that many CI jobs do not retry in step. A `Retry-After`
//! header (seconds) replaces the computed wait, up to `max_retry_after`; a longer one
//! ends the retries. `TSACL_RETRY_BASE_MS` changes the base (the tests use 10 ms).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_tries: u32,
    pub base: Duration,
    pub max_delay: Duration,
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_tries: 5,
            base: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// HTTP statuses worth another try: rate limiting and transient server or gateway
/// failures. A write is retried too: `If-Match` makes a repeated write safe.
pub fn retryable_status(status: u16) -> bool {
    matches!(status, 429 | 500 | 502 | 503 | 504)
}

/// What to do after a failed try.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Wait(Duration),
    GiveUp,
}

impl RetryPolicy {
    /// After try number `tried` (1-based) failed, with the server's `Retry-After` if any.
    pub fn next(&self, tried: u32, retry_after: Option<Duration>) -> Next {
        if tried >= self.max_tries {
            return Next::GiveUp;
        }
        if let Some(after) = retry_after {
            return if after > self.max_retry_after {
                Next::GiveUp
            } else {
                Next::Wait(after)
            };
        }
        let exp = self
            .base
            .saturating_mul(1u32 << (tried - 1).min(16))
            .min(self.max_delay);
        let half = exp / 2;
        let jitter = if half.is_zero() {
            Duration::ZERO
        } else {
            Duration::from_nanos(random_u64() % (half.as_nanos() as u64 + 1))
        };
        Next::Wait(half + jitter)
    }
}

/// A random number without a dependency: `RandomState` is seeded randomly per process
/// and per instance.
fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(0x9e37_79b9_7f4a_7c15);
    h.finish()
}

/// `Retry-After` in its delta-seconds form. The HTTP-date form is not used by the
/// Tailscale API as far as is known; it falls back to the computed backoff.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_stops() {
        let p = RetryPolicy {
            base: Duration::from_millis(100),
            ..RetryPolicy::default()
        };
        for tried in 1..5 {
            let full = Duration::from_millis(100 * (1 << (tried - 1)));
            match p.next(tried, None) {
                Next::Wait(d) => assert!(d >= full / 2 && d <= full, "{tried}: {d:?}"),
                Next::GiveUp => panic!("gave up early"),
            }
        }
        assert_eq!(p.next(5, None), Next::GiveUp);
    }

    #[test]
    fn honours_retry_after() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.next(1, Some(Duration::from_secs(2))),
            Next::Wait(Duration::from_secs(2))
        );
        assert_eq!(p.next(1, Some(Duration::from_secs(3600))), Next::GiveUp);
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn capped() {
        let p = RetryPolicy {
            max_tries: 40,
            ..RetryPolicy::default()
        };
        match p.next(30, None) {
            Next::Wait(d) => assert!(d <= p.max_delay),
            Next::GiveUp => panic!(),
        }
    }
}
