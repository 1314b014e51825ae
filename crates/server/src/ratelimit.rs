//! Per-client fixed-window rate limits for the auth routes. Written here because it is a
//! few lines over a map and must follow the injected clock in tests.
//!
//! A client is an IPv4 address or an IPv6 network (a /64 by default: one subscriber
//! gets a whole /64, so counting single IPv6 addresses counts nothing). Windows are
//! aligned to the clock; the table holds the current window only, and is swapped out
//! whole when the next begins, so each request costs O(1) whatever the table's size.
//! Past [`MAX_CLIENTS`] clients in one window, new ones share one counter: a flood of
//! fresh addresses is limited together instead of growing the table.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;

/// Distinct clients counted in one window before new ones share a counter.
pub(crate) const MAX_CLIENTS: usize = 200_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Bucket {
    Login,
    Password,
}

/// The unit counted: IPv4-mapped IPv6 as IPv4, other IPv6 cut to `v6_prefix` bits.
pub(crate) fn client_key(addr: IpAddr, v6_prefix: u8) -> IpAddr {
    match addr.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u32::from(v6_prefix.min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
        }
        v4 => v4,
    }
}

struct Window {
    /// `now / window` when this table was started.
    number: i64,
    hits: HashMap<(Bucket, Option<IpAddr>), u32>,
}

pub(crate) struct RateLimiter {
    window: i64,
    login: u32,
    password: u32,
    v6_prefix: u8,
    current: Mutex<Window>,
}

impl RateLimiter {
    pub(crate) fn new(window_seconds: u32, login: u32, password: u32, v6_prefix: u8) -> Self {
        RateLimiter {
            window: i64::from(window_seconds.max(1)),
            login,
            password,
            v6_prefix,
            current: Mutex::new(Window {
                number: i64::MIN,
                hits: HashMap::new(),
            }),
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
        let number = now.div_euclid(self.window);
        let retired;
        let verdict = {
            let Ok(mut w) = self.current.lock() else {
                return Ok(());
            };
            retired = if w.number == number {
                None
            } else {
                w.number = number;
                Some(std::mem::take(&mut w.hits))
            };
            let mut key = (bucket, Some(client_key(addr, self.v6_prefix)));
            if w.hits.len() >= MAX_CLIENTS && !w.hits.contains_key(&key) {
                key = (bucket, None);
            }
            let count = w.hits.entry(key).or_insert(0);
            if *count >= limit {
                Err((number + 1) * self.window - now)
            } else {
                *count += 1;
                Ok(())
            }
        };
        // The last window's table is freed outside the lock (and, when large, off the
        // request's thread), so no request pays for the table's size.
        if let Some(old) = retired
            && old.len() > 10_000
        {
            std::thread::spawn(move || drop(old));
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_address_and_window() {
        let r = RateLimiter::new(60, 2, 0, 64);
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

    #[test]
    fn ipv6_clients_are_counted_by_their_64_and_mapped_ipv4_as_ipv4() {
        let r = RateLimiter::new(60, 2, 0, 64);
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap_or_else(|_| unreachable!());
        let same_64: IpAddr = "2001:db8:1:2:ffff::9"
            .parse()
            .unwrap_or_else(|_| unreachable!());
        let other_64: IpAddr = "2001:db8:1:3::1".parse().unwrap_or_else(|_| unreachable!());
        assert!(r.hit(Bucket::Login, one, 0).is_ok());
        assert!(r.hit(Bucket::Login, same_64, 0).is_ok());
        assert!(
            r.hit(Bucket::Login, same_64, 0).is_err(),
            "another address in the same /64 is the same client"
        );
        assert!(r.hit(Bucket::Login, other_64, 0).is_ok());
        let v4: IpAddr = [192, 0, 2, 7].into();
        let mapped: IpAddr = "::ffff:192.0.2.7"
            .parse()
            .unwrap_or_else(|_| unreachable!());
        assert!(r.hit(Bucket::Login, v4, 0).is_ok());
        assert!(r.hit(Bucket::Login, mapped, 0).is_ok());
        assert!(r.hit(Bucket::Login, v4, 0).is_err(), "mapped is the same");
        // The prefix is configurable: /128 counts single addresses.
        let exact = RateLimiter::new(60, 1, 0, 128);
        assert!(exact.hit(Bucket::Login, one, 0).is_ok());
        assert!(exact.hit(Bucket::Login, same_64, 0).is_ok());
    }

    #[test]
    fn a_full_table_makes_new_clients_share_one_counter() {
        let r = RateLimiter::new(60, 3, 0, 64);
        for i in 0..MAX_CLIENTS as u32 {
            assert!(
                r.hit(Bucket::Login, IpAddr::from(i.to_be_bytes()), 5)
                    .is_ok()
            );
        }
        let fresh = |n: u32| IpAddr::from((u32::MAX - n).to_be_bytes());
        assert!(r.hit(Bucket::Login, fresh(1), 5).is_ok());
        assert!(r.hit(Bucket::Login, fresh(2), 5).is_ok());
        assert!(r.hit(Bucket::Login, fresh(3), 5).is_ok());
        assert!(
            r.hit(Bucket::Login, fresh(4), 5).is_err(),
            "newcomers past the table's size are limited together"
        );
        // A known client keeps its own counter; the next window starts afresh.
        assert!(
            r.hit(Bucket::Login, IpAddr::from(7u32.to_be_bytes()), 5)
                .is_ok()
        );
        assert!(r.hit(Bucket::Login, fresh(4), 60).is_ok());
    }
}
