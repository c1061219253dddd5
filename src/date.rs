//! Dates as the wire, the log and rejections want them, from Unix time, no
//! time-zone database: the HTTP `Date` header (RFC 9110 §5.6.7) and the
//! log's and the rejections' RFC 3339 UTC timestamps.

use std::time::{SystemTime, UNIX_EPOCH};

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01: Howard
/// Hinnant's civil-from-days, exact for every `u64` second we accept.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month as u32, day as u32)
}

/// Days since 1970-01-01 of a civil date: the inverse of `civil`.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Unix seconds of an RFC 3339 timestamp (`2021-03-16T07:30:00Z`, with
/// optional fractions, dropped, and a `Z` or `±HH:MM` offset), from 1970
/// on; `None` for anything else.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<u32> {
        let part = s.get(from..from + len)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let sep = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (h, mi, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let mut rest = s.get(19..)?;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = frac.get(digits..)?;
    }
    let offset: i64 = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6
            && (o.starts_with('+') || o.starts_with('-'))
            && o.get(3..4) == Some(":") =>
        {
            let hh = i64::from(num(s.len() - 5, 2)?);
            let mm = i64::from(num(s.len() - 2, 2)?);
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (hh * 3600 + mm * 60)
        }
        _ => return None,
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(i64::from(y), mo, d);
    let t = days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(sec) - offset;
    u64::try_from(t).ok()
}

fn split(secs: u64) -> (i64, u32, u32, u64) {
    let days = (secs / 86_400) as i64;
    let (y, m, d) = civil(days);
    (y, m, d, secs % 86_400)
}

/// IMF-fixdate, e.g. `Tue, 16 Mar 2021 07:30:00 GMT`.
pub fn http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (year, month, day, rem) = split(secs);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS.get((secs / 86_400 % 7) as usize).unwrap_or(&"Thu"),
        MONTHS.get(month as usize - 1).unwrap_or(&"Jan"),
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

thread_local! {
    /// This thread's `Date` of the current second: one formatting a
    /// second, not one an answer (nginx caches its time likewise).
    static HTTP_DATE: std::cell::RefCell<(u64, String)> =
        const { std::cell::RefCell::new((u64::MAX, String::new())) };
}

/// `http_date` of now, appended to `out`; formatted once a second.
pub fn push_http_date_now(out: &mut Vec<u8>) {
    let now = unix_now();
    HTTP_DATE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.0 != now {
            *cache = (now, http_date(now));
        }
        out.extend_from_slice(cache.1.as_bytes());
    });
}

/// RFC 3339 UTC to the second, e.g. `2021-03-16T07:30:00Z`.
pub fn rfc3339(secs: u64) -> String {
    let (year, month, day, rem) = split(secs);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// RFC 3339 UTC to the millisecond: the log's timestamp.
pub fn rfc3339_millis(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut s = rfc3339(d.as_secs());
    s.pop();
    s.push_str(&format!(".{:03}Z", d.subsec_millis()));
    s
}

pub fn unix_now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_parses_back_what_we_print() {
        for t in [0, 1_615_879_800, 951_782_400, 253_402_300_799] {
            assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t), "{}", rfc3339(t));
        }
        assert_eq!(
            parse_rfc3339("2021-03-16T08:30:00.123+01:00"),
            Some(1_615_879_800)
        );
        assert_eq!(parse_rfc3339("2021-03-16t07:30:00z"), Some(1_615_879_800));
        for bad in [
            "2021-03-16",
            "2021-13-01T00:00:00Z",
            "2021-03-16T07:30:00",
            "1615879800",
            "2021-03-16T07:30:00.Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn http_dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        // The seed's response date.
        assert_eq!(http_date(1_615_879_800), "Tue, 16 Mar 2021 07:30:00 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_615_880_100), "2021-03-16T07:35:00Z");
        assert_eq!(rfc3339(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(
            rfc3339_millis(UNIX_EPOCH + std::time::Duration::from_millis(1_615_879_800_042)),
            "2021-03-16T07:30:00.042Z"
        );
    }
}
