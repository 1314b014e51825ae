//! Calendar dates in UTC, for what administrators read and type (audit filters, tables).
//! Days ↔ civil dates after Howard Hinnant's algorithms; written here because two small
//! functions do not warrant a date-time crate in every surface.

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian.
pub fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Unix seconds → `YYYY-MM-DD HH:MM` (UTC).
pub fn minutes(ts: i64) -> String {
    let (y, m, d) = civil(ts.div_euclid(86_400));
    let secs = ts.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        secs / 3600,
        (secs % 3600) / 60
    )
}

/// Unix seconds → RFC 3339 in UTC, to the second (`2026-11-30T15:04:05Z`).
pub fn rfc3339(ts: i64) -> String {
    let (y, m, d) = civil(ts.div_euclid(86_400));
    let secs = ts.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
    )
}

/// `YYYY-MM-DD` → unix seconds at 00:00 UTC; `None` for anything else, including dates
/// that do not exist (2026-02-30).
pub fn parse_day(s: &str) -> Option<i64> {
    let mut p = s.splitn(3, '-').map(|x| x.parse::<i64>().ok());
    let (Some(Some(y)), Some(Some(m)), Some(Some(d))) = (p.next(), p.next(), p.next()) else {
        return None;
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let ya = if m <= 2 { y - 1 } else { y };
    let era = ya.div_euclid(400);
    let yoe = ya - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    (civil(days) == (y, m, d)).then_some(days * 86_400)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_impossible_ones_are_refused() {
        assert_eq!(minutes(0), "1970-01-01 00:00");
        assert_eq!(minutes(1_795_436_800), "2026-11-23 12:26");
        assert_eq!(minutes(951_782_400), "2000-02-29 00:00");
        assert_eq!(rfc3339(1_795_436_805), "2026-11-23T12:26:45Z");
        assert_eq!(parse_day("2026-11-23"), Some(1_795_392_000));
        assert_eq!(parse_day("2000-02-29"), Some(951_782_400));
        assert_eq!(parse_day("1969-12-31"), Some(-86_400));
        for bad in ["2026-02-30", "2026-13-01", "yesterday", "2026-11", ""] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
    }
}
