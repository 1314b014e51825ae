//! Per-address fixed-window rate limits for the auth routes. Written here because it is
//! twenty lines over a map and must follow the injected clock in tests.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Bucket {
    Login,
    Password,
}

pub(crate) struct RateLimiter {
    window: i64,
    login: u32,
    password: u32,
    hits: Mutex<HashMap<(Bucket, IpAddr), (i64, u32)>>,
}

impl RateLimiter {
    pub(crate) fn new(window_seconds: u32, login: u32, password: u32) -> Self {
        RateLimiter {
            window: i64::from(window_seconds.max(1)),
            login,
            password,
            hits: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a hit; `Err(seconds to wait)` when over the limit.
    pub(crate) fn hit(&self, bucket: Bucket, addr: IpAddr, now: i64) -> Result<(), i64> {
        let limit = match bucket {
            Bucket::Login => self.login,
            Bucket::Password => self.password,
        };
        if limit == 0 {
            return Ok(());
        }
        let Ok(mut hits) = self.hits.lock() else {
            return Ok(());
        };
        if hits.len() > 100_000 {
            let window = self.window;
            hits.retain(|_, (start, _)| now - *start < window);
        }
        let entry = hits.entry((bucket, addr)).or_insert((now, 0));
        if now - entry.0 >= self.window {
            *entry = (now, 0);
        }
        if entry.1 >= limit {
            return Err(entry.0 + self.window - now);
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_address_and_window() {
        let r = RateLimiter::new(60, 2, 0);
        let a: IpAddr = [1, 2, 3, 4].into();
        let b: IpAddr = [5, 6, 7, 8].into();
        assert!(r.hit(Bucket::Login, a, 0).is_ok());
        assert!(r.hit(Bucket::Login, a, 1).is_ok());
        assert_eq!(r.hit(Bucket::Login, a, 2), Err(58));
        assert!(r.hit(Bucket::Login, b, 2).is_ok());
        assert!(r.hit(Bucket::Login, a, 60).is_ok());
        // Zero switches a limit off.
        for t in 0..100 {
            assert!(r.hit(Bucket::Password, a, t).is_ok());
        }
    }
}
