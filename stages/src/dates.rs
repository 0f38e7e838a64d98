//! Feed dates as ThreatConnect's ISO 8601 UTC timestamps (`2015-01-21T00:00:00Z`). Kaspersky
//! feeds write `dd.MM.yyyy HH:mm` with no time zone, which feedpipe reads as UTC. Also accepted:
//! date-only `dd.MM.yyyy` (WHOIS dates), ISO 8601 as Kaspersky's TAXII server sends it
//! (`2026-04-21T10:00:00.000Z`, also with a `±HH:MM` offset, converted to UTC), and the P-SMS
//! Trojan feed's `M/d/yyyy h:mm:ss AM`. Every date is checked against the calendar, so
//! `31.02.2024` is rejected rather than rolled over.

/// A calendar date and time of day in UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Timestamp {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

/// Parses a feed date in any accepted form and returns it as `yyyy-MM-ddTHH:mm:ssZ`. Returns
/// `None` when the text matches no form or names a date or time that does not exist.
pub fn parse_feed_date(text: &str) -> Option<String> {
    let text = crate::text::trim(text);
    let timestamp = parse_kaspersky(text.as_bytes())
        .or_else(|| parse_dotted(text))
        .or_else(|| parse_iso(text))
        .or_else(|| parse_us(text))?;
    Some(iso(&timestamp))
}

/// Writes a timestamp as `yyyy-MM-ddTHH:mm:ssZ`, byte by byte: this runs twice per record, and
/// `format!` costs several times more. Every timestamp passed `checked`, so its year has four
/// digits.
fn iso(timestamp: &Timestamp) -> String {
    let mut out = *b"0000-00-00T00:00:00Z";
    let year = timestamp.year.unsigned_abs() as u32;
    let fields = [
        (0, year / 100),
        (2, year % 100),
        (5, timestamp.month),
        (8, timestamp.day),
        (11, timestamp.hour),
        (14, timestamp.minute),
        (17, timestamp.second),
    ];
    for (at, value) in fields {
        out[at] = b'0' + (value / 10 % 10) as u8;
        out[at + 1] = b'0' + (value % 10) as u8;
    }
    String::from_utf8(out.to_vec()).expect("ASCII digits and separators")
}

/// Reads the form Kaspersky's feeds write, `dd.MM.yyyy HH:mm` with two-digit fields, without
/// splitting the text. Every other form goes through the general parsers.
fn parse_kaspersky(text: &[u8]) -> Option<Timestamp> {
    let [
        d1,
        d2,
        b'.',
        m1,
        m2,
        b'.',
        y1,
        y2,
        y3,
        y4,
        b' ',
        h1,
        h2,
        b':',
        n1,
        n2,
    ] = *text
    else {
        return None;
    };
    let digit = |byte: u8| byte.is_ascii_digit().then(|| u32::from(byte - b'0'));
    let pair = |high: u8, low: u8| Some(digit(high)? * 10 + digit(low)?);
    let year = pair(y1, y2)? * 100 + pair(y3, y4)?;
    checked(
        i64::from(year),
        pair(m1, m2)?,
        pair(d1, d2)?,
        pair(h1, h2)?,
        pair(n1, n2)?,
        0,
    )
}

/// `dd.MM.yyyy HH:mm`, `dd.MM.yyyy HH:mm:ss` or `dd.MM.yyyy`.
fn parse_dotted(text: &str) -> Option<Timestamp> {
    let (date, time) = match text.split_once(' ') {
        Some((date, time)) => (date, Some(time.trim_start())),
        None => (text, None),
    };

    let mut parts = date.split('.');
    let day = number(parts.next()?, 1, 2)?;
    let month = number(parts.next()?, 1, 2)?;
    let year = number(parts.next()?, 4, 4)?;
    if parts.next().is_some() {
        return None;
    }

    let (hour, minute, second) = match time {
        Some(time) => clock(time)?,
        None => (0, 0, 0),
    };
    checked(i64::from(year), month, day, hour, minute, second)
}

/// `M/d/yyyy h:mm:ss AM` or `PM`, a 12-hour clock.
fn parse_us(text: &str) -> Option<Timestamp> {
    let mut words = text.split_whitespace();
    let date = words.next()?;
    let time = words.next()?;
    let meridiem = words.next()?;
    if words.next().is_some() {
        return None;
    }

    let mut parts = date.split('/');
    let month = number(parts.next()?, 1, 2)?;
    let day = number(parts.next()?, 1, 2)?;
    let year = number(parts.next()?, 4, 4)?;
    if parts.next().is_some() {
        return None;
    }

    let (hour, minute, second) = clock(time)?;
    if !(1..=12).contains(&hour) {
        return None;
    }
    let hour = if meridiem.eq_ignore_ascii_case("AM") {
        hour % 12
    } else if meridiem.eq_ignore_ascii_case("PM") {
        hour % 12 + 12
    } else {
        return None;
    };
    checked(i64::from(year), month, day, hour, minute, second)
}

/// `yyyy-MM-dd`, or `yyyy-MM-ddTHH:mm[:ss[.fraction]]` followed by `Z`, `±HH:MM` or nothing
/// (read as UTC). Fractions of a second are dropped.
fn parse_iso(text: &str) -> Option<Timestamp> {
    let (date, rest) = match text.split_once(['T', 't']) {
        Some((date, rest)) => (date, Some(rest)),
        None => (text, None),
    };
    let mut parts = date.split('-');
    let year = number(parts.next()?, 4, 4)?;
    let month = number(parts.next()?, 2, 2)?;
    let day = number(parts.next()?, 2, 2)?;
    if parts.next().is_some() {
        return None;
    }
    let Some(rest) = rest else {
        return checked(i64::from(year), month, day, 0, 0, 0);
    };

    let (time, offset_minutes) = split_zone(rest)?;
    let time = match time.split_once('.') {
        Some((time, fraction)) => {
            if fraction.is_empty() || !fraction.bytes().all(|byte| byte.is_ascii_digit()) {
                return None;
            }
            time
        }
        None => time,
    };
    let (hour, minute, second) = clock(time)?;
    let local = checked(i64::from(year), month, day, hour, minute, second)?;
    shift_minutes(local, -offset_minutes)
}

/// Splits a trailing `Z`, `±HH:MM` or `±HHMM` zone from an ISO time and returns its offset from
/// UTC in minutes. A time without a zone has offset 0.
fn split_zone(time: &str) -> Option<(&str, i64)> {
    if let Some(time) = time.strip_suffix(['Z', 'z']) {
        return Some((time, 0));
    }
    let Some(sign_at) = time.rfind(['+', '-']) else {
        return Some((time, 0));
    };

    let zone = &time[sign_at + 1..];
    let (hours, minutes) = match zone.split_once(':') {
        Some((hours, minutes)) => (hours, minutes),
        None if zone.len() == 4 => zone.split_at(2),
        None => return None,
    };
    let hours = number(hours, 2, 2)?;
    let minutes = number(minutes, 2, 2)?;
    if hours > 23 || minutes > 59 {
        return None;
    }
    let magnitude = i64::from(hours * 60 + minutes);
    let sign = if time.as_bytes()[sign_at] == b'-' {
        -1
    } else {
        1
    };
    Some((&time[..sign_at], sign * magnitude))
}

/// Reads `HH:mm` or `HH:mm:ss`; hours may have one digit.
fn clock(time: &str) -> Option<(u32, u32, u32)> {
    let mut parts = time.split(':');
    let hour = number(parts.next()?, 1, 2)?;
    let minute = number(parts.next()?, 2, 2)?;
    let second = match parts.next() {
        Some(second) => number(second, 2, 2)?,
        None => 0,
    };
    if parts.next().is_some() {
        return None;
    }
    Some((hour, minute, second))
}

/// Reads an unsigned decimal of `min_digits` to `max_digits` ASCII digits.
fn number(text: &str, min_digits: usize, max_digits: usize) -> Option<u32> {
    let digits_ok = (min_digits..=max_digits).contains(&text.len())
        && text.bytes().all(|byte| byte.is_ascii_digit());
    if digits_ok { text.parse().ok() } else { None }
}

/// Builds a timestamp when every part names a real date and time (no leap seconds).
fn checked(
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
) -> Option<Timestamp> {
    let valid = (1..=9999).contains(&year)
        && (1..=12).contains(&month)
        && day >= 1
        && day <= days_in_month(year, month)
        && hour < 24
        && minute < 60
        && second < 60;
    valid.then_some(Timestamp {
        year,
        month,
        day,
        hour,
        minute,
        second,
    })
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 31,
    }
}

fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Moves a timestamp by whole minutes, for converting an ISO offset to UTC.
fn shift_minutes(timestamp: Timestamp, minutes: i64) -> Option<Timestamp> {
    if minutes == 0 {
        return Some(timestamp);
    }
    let day_minutes = i64::from(timestamp.hour * 60 + timestamp.minute) + minutes;
    let days = days_from_civil(timestamp.year, timestamp.month, timestamp.day)
        + day_minutes.div_euclid(24 * 60);
    let day_minutes = day_minutes.rem_euclid(24 * 60);
    let (year, month, day) = civil_from_days(days);
    let hour = u32::try_from(day_minutes / 60).ok()?;
    let minute = u32::try_from(day_minutes % 60).ok()?;
    checked(year, month, day, hour, minute, timestamp.second)
}

/// Counts days since 1970-01-01 in the proleptic Gregorian calendar, using eras of 400 years
/// (146,097 days) that start on 1 March, so the leap day falls at the end of an era year.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Inverts [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // Both values are small and positive by construction: day 1..=31, month 1..=12.
    (year, month as u32, day as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> String {
        parse_feed_date(text).unwrap_or_else(|| panic!("{text:?} did not parse"))
    }

    #[test]
    fn feed_form_with_minutes() {
        assert_eq!(parsed("21.01.2015 00:00"), "2015-01-21T00:00:00Z");
        assert_eq!(parsed("19.05.2024 08:32"), "2024-05-19T08:32:00Z");
        assert_eq!(parsed("20.05.2016 23:59"), "2016-05-20T23:59:00Z");
        assert_eq!(parsed(" 20.05.2016 03:48:07 "), "2016-05-20T03:48:07Z");
        assert_eq!(parsed("31.12.9999 23:59"), "9999-12-31T23:59:00Z");
        assert_eq!(parsed("01.01.0001 00:00"), "0001-01-01T00:00:00Z");
        assert_eq!(parsed("1.2.2024 3:04"), "2024-02-01T03:04:00Z");
    }

    #[test]
    fn offsets_never_leave_four_digit_years() {
        assert_eq!(parse_feed_date("9999-12-31T23:30:00-01:00"), None);
        assert_eq!(parse_feed_date("0001-01-01T00:30:00+01:00"), None);
    }

    #[test]
    fn feed_form_date_only() {
        assert_eq!(parsed("08.03.2013"), "2013-03-08T00:00:00Z");
        assert_eq!(parsed("29.02.2024"), "2024-02-29T00:00:00Z");
    }

    #[test]
    fn iso_forms() {
        assert_eq!(parsed("2026-04-21T10:00:00.000Z"), "2026-04-21T10:00:00Z");
        assert_eq!(parsed("2026-04-21T10:00:00Z"), "2026-04-21T10:00:00Z");
        assert_eq!(parsed("2100-01-01T00:00:00.000Z"), "2100-01-01T00:00:00Z");
        assert_eq!(parsed("2026-04-21T10:00"), "2026-04-21T10:00:00Z");
        assert_eq!(parsed("2026-04-21"), "2026-04-21T00:00:00Z");
    }

    #[test]
    fn iso_offsets_convert_to_utc() {
        assert_eq!(parsed("2026-04-21T10:00:00+02:00"), "2026-04-21T08:00:00Z");
        assert_eq!(parsed("2026-04-21T23:30:00-01:00"), "2026-04-22T00:30:00Z");
        assert_eq!(parsed("2024-03-01T00:10:00+0030"), "2024-02-29T23:40:00Z");
        assert_eq!(
            parsed("2025-12-31T23:00:00.5-05:00"),
            "2026-01-01T04:00:00Z"
        );
    }

    #[test]
    fn twelve_hour_form() {
        assert_eq!(parsed("4/26/2014 6:00:00 PM"), "2014-04-26T18:00:00Z");
        assert_eq!(parsed("4/26/2014 6:00:00 am"), "2014-04-26T06:00:00Z");
        assert_eq!(parsed("12/1/2014 12:05:09 AM"), "2014-12-01T00:05:09Z");
        assert_eq!(parsed("12/1/2014 12:05:09 PM"), "2014-12-01T12:05:09Z");
    }

    #[test]
    fn impossible_dates_are_rejected() {
        for text in [
            "31.02.2024 10:00",
            "29.02.2023",
            "31.04.2024",
            "00.01.2024",
            "01.13.2024",
            "01.01.2024 24:00",
            "01.01.2024 10:60",
            "01.01.0000 10:00",
            "0a.01.2024 10:00",
            "01.01.2024 1-:00",
            "2023-02-29T00:00:00Z",
            "2/30/2024 1:00:00 PM",
            "4/26/2014 13:00:00 PM",
            "4/26/2014 0:00:00 AM",
        ] {
            assert_eq!(parse_feed_date(text), None, "{text}");
        }
    }

    #[test]
    fn unparsable_text_is_rejected() {
        for text in [
            "",
            "yesterday",
            "21.01.15 00:00",
            "21/01/2015 00:00",
            "21.01.2015 0000",
            "2026-4-21",
            "2026-04-21T10:00:00.Z",
            "2026-04-21T10:00:00+2",
            "4/26/2014 6:00:00",
            "4/26/2014 6:00:00 XM",
            "+21.01.2015",
        ] {
            assert_eq!(parse_feed_date(text), None, "{text}");
        }
    }

    #[test]
    fn civil_day_conversion_round_trips() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        for days in [-800_000, -1, 0, 59, 60, 11_016, 11_017, 20_000, 2_932_896] {
            let (year, month, day) = civil_from_days(days);
            assert_eq!(days_from_civil(year, month, day), days, "{days}");
        }
    }
}
