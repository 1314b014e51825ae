//! Refusals of requests nobody is signed in for (junk bearer tokens, forged back-channel
//! logouts, callbacks with made-up states) are summarised, not recorded one by one: at
//! most one audit event per (event, reason, client) per minute, carrying how many it
//! stands for. One client sending junk as fast as it can must not be able to fill the
//! audit log; the metrics still count every refusal.
//!
//! The first refusal of a quiet client is recorded at once (so an operator sees the
//! first try with its detail); the ones after it within the minute are counted, and
//! their summary is written when the minute is up — by the next refusal or by the
//! periodic [`Refusals::due`] sweep, whichever comes first.

use crate::ratelimit::client_key;
use ssogate_store::audit::NewEvent;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// At most one event per key in this many seconds.
pub(crate) const EVERY: i64 = 60;
/// Keys tracked one by one; past this, new clients share one key per reason.
const MAX_KEYS: usize = 10_000;

type Key = (String, Option<String>, Option<IpAddr>);

struct Slot {
    emitted_at: i64,
    suppressed: u64,
    latest: NewEvent,
}

#[derive(Default)]
pub(crate) struct Refusals {
    slots: Mutex<HashMap<Key, Slot>>,
}

fn summarised(mut ev: NewEvent, count: u64, at: i64) -> NewEvent {
    if count > 1 {
        let latest = ev.detail.take().unwrap_or_default();
        ev.detail = Some(format!(
            "{count} refusals like this from this client within {EVERY} s (counted, not each recorded); the latest: {latest}"
        ));
    }
    ev.at = at;
    ev
}

impl Refusals {
    /// Counts a refusal from `client`; returns the event to record now, if one is due.
    pub(crate) fn note(&self, ev: NewEvent, client: IpAddr) -> Option<NewEvent> {
        let now = ev.at;
        let Ok(mut slots) = self.slots.lock() else {
            return None;
        };
        let mut key = (
            ev.event.clone(),
            ev.reason.clone(),
            Some(client_key(client, 64)),
        );
        if slots.len() >= MAX_KEYS && !slots.contains_key(&key) {
            key.2 = None;
        }
        match slots.get_mut(&key) {
            Some(slot) if now - slot.emitted_at < EVERY => {
                slot.suppressed += 1;
                slot.latest = ev;
                None
            }
            Some(slot) => {
                let count = slot.suppressed + 1;
                slot.emitted_at = now;
                slot.suppressed = 0;
                slot.latest = ev.clone();
                Some(summarised(ev, count, now))
            }
            None => {
                slots.insert(
                    key,
                    Slot {
                        emitted_at: now,
                        suppressed: 0,
                        latest: ev.clone(),
                    },
                );
                Some(ev)
            }
        }
    }

    /// The summaries whose minute is up (all of them with `flush`, at shutdown); quiet
    /// clients are forgotten.
    pub(crate) fn due(&self, now: i64, flush: bool) -> Vec<NewEvent> {
        let Ok(mut slots) = self.slots.lock() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        slots.retain(|_, slot| {
            if !flush && now - slot.emitted_at < EVERY {
                return true;
            }
            if slot.suppressed == 0 {
                return false;
            }
            out.push(summarised(slot.latest.clone(), slot.suppressed, now));
            slot.emitted_at = now;
            slot.suppressed = 0;
            true
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(at: i64, reason: &str) -> NewEvent {
        NewEvent {
            at,
            event: "bearer.rejected".into(),
            outcome: "failure".into(),
            reason: Some(reason.into()),
            detail: Some(format!("try at {at}")),
            ..NewEvent::default()
        }
    }

    #[test]
    fn one_event_per_reason_and_client_per_minute_with_its_count() {
        let r = Refusals::default();
        let a: IpAddr = [192, 0, 2, 1].into();
        let b: IpAddr = [192, 0, 2, 2].into();
        assert!(r.note(ev(0, "x"), a).is_some(), "the first is recorded");
        for t in 1..1000 {
            assert!(r.note(ev(t % 60, "x"), a).is_none());
        }
        assert!(r.note(ev(5, "y"), a).is_some(), "another reason");
        assert!(r.note(ev(5, "x"), b).is_some(), "another client");
        assert!(r.due(59, false).is_empty(), "the minute is not up");
        let due = r.due(60, false);
        assert_eq!(due.len(), 1);
        let detail = due[0].detail.clone().unwrap_or_default();
        assert!(detail.starts_with("999 refusals"), "{detail}");
        // The summary counts as that key's event for the next minute.
        assert!(r.note(ev(61, "x"), a).is_none());
        assert!(r.due(119, false).is_empty());
        let due = r.due(120, false);
        assert_eq!(due.len(), 1);
        assert!(
            due[0]
                .detail
                .clone()
                .unwrap_or_default()
                .starts_with("try at 61")
        );
        // Quiet keys are forgotten; the next refusal is recorded at once.
        assert!(r.due(500, false).is_empty());
        assert!(r.note(ev(501, "x"), a).is_some());
    }

    #[test]
    fn ipv6_clients_in_one_64_are_one_client_and_the_table_is_bounded() {
        let r = Refusals::default();
        let one: IpAddr = "2001:db8::1".parse().unwrap_or_else(|_| unreachable!());
        let two: IpAddr = "2001:db8::2".parse().unwrap_or_else(|_| unreachable!());
        assert!(r.note(ev(0, "x"), one).is_some());
        assert!(r.note(ev(0, "x"), two).is_none());
        for i in 0..(MAX_KEYS as u32 + 50) {
            r.note(ev(1, "z"), IpAddr::from(i.to_be_bytes()));
        }
        assert!(r.slots.lock().map(|s| s.len()).unwrap_or(0) <= MAX_KEYS + 1);
        assert_eq!(
            r.due(0, true).len(),
            2,
            "flushed at shutdown: x and the shared z"
        );
    }
}
