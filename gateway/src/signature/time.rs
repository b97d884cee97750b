//! The timestamps of signed requests: `20130524T000000Z` (SigV4's
//! `X-Amz-Date`), RFC 1123 dates (`Date`, SigV2), ISO 8601 with a `Z`
//! (POST policy `expiration`), and the clock-skew rule.
//!
//! Seconds since the Unix epoch are the one representation inside; the
//! civil-date conversion is Howard Hinnant's `days_from_civil` algorithm,
//! exact for the proleptic Gregorian calendar.

use std::time::{SystemTime, UNIX_EPOCH};

/// How far a request's time may be from ours (S3: 15 minutes).
pub const MAX_SKEW_SECS: i64 = 15 * 60;

/// Longest validity of a presigned URL (S3: 7 days).
pub const MAX_PRESIGNED_EXPIRES_SECS: i64 = 7 * 24 * 3600;

/// Seconds since the epoch now.
pub fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

fn digits(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Seconds since the epoch of a validated civil time.
fn to_unix(year: i64, month: u32, day: u32, hour: u32, min: u32, sec: u32) -> Option<i64> {
    let valid = (1..=12).contains(&month)
        && day >= 1
        && day <= days_in_month(year, month)
        && hour < 24
        && min < 60
        && sec < 61;
    valid.then(|| {
        days_from_civil(year, month, day) * 86_400
            + i64::from(hour) * 3600
            + i64::from(min) * 60
            + i64::from(sec)
    })
}

/// Parses `YYYYMMDDTHHMMSSZ`.
pub fn parse_amz_date(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 16 || b.get(8) != Some(&b'T') || b.get(15) != Some(&b'Z') {
        return None;
    }
    let part = |r: std::ops::Range<usize>| text.get(r).and_then(digits);
    to_unix(
        i64::from(part(0..4)?),
        part(4..6)?,
        part(6..8)?,
        part(9..11)?,
        part(11..13)?,
        part(13..15)?,
    )
}

/// Formats `YYYYMMDDTHHMMSSZ`.
pub fn format_amz_date(unix: i64) -> String {
    let (y, mo, d) = civil_from_days(unix.div_euclid(86_400));
    let s = unix.rem_euclid(86_400);
    format!(
        "{y:04}{mo:02}{d:02}T{:02}{:02}{:02}Z",
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

/// Parses ISO 8601 `YYYY-MM-DDTHH:MM:SS[.fff]Z` (POST policy expiration).
pub fn parse_iso8601(text: &str) -> Option<i64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut d = date.split('-');
    let (year, month, day) = (digits(d.next()?)?, digits(d.next()?)?, digits(d.next()?)?);
    if d.next().is_some() || date.len() != 10 {
        return None;
    }
    let time = match time.split_once('.') {
        Some((t, frac)) if !frac.is_empty() && frac.len() <= 9 && digits(frac).is_some() => t,
        Some(_) => return None,
        None => time,
    };
    let mut t = time.split(':');
    let (h, m, s) = (digits(t.next()?)?, digits(t.next()?)?, digits(t.next()?)?);
    if t.next().is_some() || time.len() != 8 {
        return None;
    }
    to_unix(i64::from(year), month, day, h, m, s)
}

/// Parses an HTTP date (`Date` header) into seconds since the epoch.
pub fn parse_http_date(text: &str) -> Option<i64> {
    let t = httpdate::parse_http_date(text).ok()?;
    let secs = t.duration_since(UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(secs).ok()
}

/// Whether `request_time` is within the allowed skew of `now`.
pub fn within_skew(request_time: i64, now: i64) -> bool {
    request_time.abs_diff(now) <= MAX_SKEW_SECS.unsigned_abs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_round_trip() {
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date("20130524T000000Z"), Some(1_369_353_600));
        for t in [
            0,
            1_369_353_600,
            951_782_400, /* 2000-02-29 */
            4_102_444_799,
        ] {
            assert_eq!(parse_amz_date(&format_amz_date(t)), Some(t));
        }
        for bad in [
            "20130524T000000",
            "20130532T000000Z",
            "20130229T000000Z",
            "2013052aT000000Z",
            "20130524T250000Z",
            "+0130524T000000Z",
            "",
            "20130524T00000\u{e9}",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn iso8601_and_http_dates() {
        assert_eq!(
            parse_iso8601("2013-05-24T00:00:00.000Z"),
            Some(1_369_353_600)
        );
        assert_eq!(parse_iso8601("2013-05-24T00:00:00Z"), Some(1_369_353_600));
        assert_eq!(parse_iso8601("2013-05-24T00:00:00"), None);
        assert_eq!(parse_iso8601("2013-5-24T00:00:00Z"), None);
        assert_eq!(parse_iso8601("2013-05-24T00:00:00.Z"), None);
        assert_eq!(
            parse_http_date("Fri, 24 May 2013 00:00:00 GMT"),
            Some(1_369_353_600)
        );
        assert!(within_skew(1000, 1000 + 900));
        assert!(!within_skew(1000, 1000 + 901));
    }
}

/// Formats `YYYY-MM-DDTHH:MM:SS.mmmZ` (S3's XML timestamps) from
/// nanoseconds since the epoch.
pub fn format_iso8601_ns(unix_ns: i64) -> String {
    let secs = unix_ns.div_euclid(1_000_000_000);
    let millis = unix_ns.rem_euclid(1_000_000_000) / 1_000_000;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

#[cfg(test)]
mod iso_tests {
    #[test]
    fn formats_xml_timestamps() {
        assert_eq!(
            super::format_iso8601_ns(1_369_353_600_123_000_000),
            "2013-05-24T00:00:00.123Z"
        );
        assert_eq!(super::format_iso8601_ns(0), "1970-01-01T00:00:00.000Z");
    }
}
