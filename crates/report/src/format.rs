//! Escaping and the formatting of numbers for people (and, raw, for
//! machines).

use std::borrow::Cow;
use std::fmt::{self, Display, Formatter};

/// `s` escaped for HTML text and (quoted) attribute values: `& < > " '`
/// become entities, and control characters (but tab, newline and carriage
/// return) the replacement character.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Esc<'a>(pub(crate) &'a str);

impl Display for Esc<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let mut last = 0;
        for (i, b) in s.bytes().enumerate() {
            let entity = match b {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                b'\'' => "&#39;",
                b'\t' | b'\n' | b'\r' => continue,
                0..=0x1f | 0x7f => "\u{fffd}",
                _ => continue,
            };
            // `b` is ASCII, so `i` is on a character boundary.
            f.write_str(&s[last..i])?;
            f.write_str(entity)?;
            last = i + 1;
        }
        f.write_str(&s[last..])
    }
}

/// `s` cut to `max` characters, saying how many were left off.
pub(crate) fn clip(s: &str, max: usize) -> Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => Cow::Borrowed(s),
        Some((at, _)) => Cow::Owned(format!(
            "{}… ({} more characters)",
            &s[..at],
            s[at..].chars().count()
        )),
    }
}

/// `x`, or 0 when it is not a finite number.
pub(crate) fn finite(x: f64) -> f64 {
    if x.is_finite() { x } else { 0.0 }
}

/// `part / whole`, or 0 when `whole` is 0 (or the result not finite).
pub(crate) fn ratio(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        finite(part / whole)
    } else {
        0.0
    }
}

/// An SVG coordinate: finite, to a tenth, without a needless `.0`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct N(pub(crate) f64);

impl Display for N {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let tenths = tenths(self.0);
        if tenths % 10 == 0 {
            write!(f, "{}", tenths / 10)
        } else {
            let sign = if tenths < 0 { "-" } else { "" };
            let abs = tenths.unsigned_abs();
            write!(f, "{sign}{}.{}", abs / 10, abs % 10)
        }
    }
}

/// `x` in tenths, rounded (0 when not finite).
pub(crate) fn tenths(x: f64) -> i64 {
    (finite(x) * 10.0).round() as i64
}

/// A raw number for a `data-value` attribute: exact, never NaN or
/// infinite.
pub(crate) fn raw(x: f64) -> String {
    format!("{}", finite(x))
}

/// `1234567` as `1,234,567`.
pub(crate) fn int(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Bytes in binary units: `512 B`, `1.2 MiB`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A short duration (a latency, a gap): `0.420 ms`, `12.5 ms`, `340 ms`,
/// `1.25 s`; `—` when unknown.
pub(crate) fn dur(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "—".to_owned();
    }
    let ms = seconds * 1000.0;
    if seconds == 0.0 {
        "0 ms".to_owned()
    } else if ms < 1.0 {
        format!("{ms:.3} ms")
    } else if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 100.0 {
        format!("{ms:.1} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else if seconds < 60.0 {
        format!("{seconds:.2} s")
    } else {
        span(seconds)
    }
}

/// A long duration (a run's): `25.0 ms`, `12.3 s`, `4 min 5 s`, `2 h 10 min`.
pub(crate) fn span(seconds: f64) -> String {
    let seconds = finite(seconds).max(0.0);
    if seconds < 1.0 {
        return dur(seconds);
    }
    if seconds < 60.0 {
        return format!("{seconds:.1} s");
    }
    let whole = seconds.round() as u64;
    if whole < 3600 {
        format!("{} min {} s", whole / 60, whole % 60)
    } else {
        format!("{} h {} min", whole / 3600, whole % 3600 / 60)
    }
}

/// A rate per second: `0.25/s`, `12.5/s`, `1,204/s`.
pub(crate) fn rate(per_second: f64) -> String {
    let x = finite(per_second).max(0.0);
    if x < 10.0 {
        format!("{x:.2}/s")
    } else if x < 100.0 {
        format!("{x:.1}/s")
    } else {
        format!("{}/s", int(x.round() as u64))
    }
}

/// `part` as a share of `whole`: `12.5%` (`0.0%` when `whole` is 0).
pub(crate) fn pct(part: u64, whole: u64) -> String {
    let p = ratio(part as f64, whole as f64) * 100.0;
    if p > 0.0 && p < 0.1 {
        "<0.1%".to_owned()
    } else {
        format!("{p:.1}%")
    }
}

/// An axis tick's value: `0`, `2.5`, `1,000`.
pub(crate) fn tick(v: f64) -> String {
    let v = finite(v);
    if (v - v.round()).abs() < 1e-6 {
        if v < 0.0 {
            format!("-{}", int((-v).round() as u64))
        } else {
            int(v.round() as u64)
        }
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// A moment as `2026-05-01 12:00:00 UTC`; `None` when not a plausible one.
pub(crate) fn utc(unix_seconds: f64) -> Option<String> {
    if !unix_seconds.is_finite() || unix_seconds <= 0.0 || unix_seconds > 253_402_300_799.0 {
        return None;
    }
    let t = unix_seconds.floor() as i64;
    let (days, rem) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    Some(format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    ))
}

/// The proleptic Gregorian date of a day since 1970-01-01 (Howard
/// Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_that_matters() {
        assert_eq!(
            Esc("<a href=\"x\">'&'</a>\u{1}é").to_string(),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;\u{fffd}é"
        );
        assert_eq!(Esc("plain\ttext\n").to_string(), "plain\ttext\n");
    }

    #[test]
    fn numbers_for_people() {
        assert_eq!(int(0), "0");
        assert_eq!(int(999), "999");
        assert_eq!(int(1000), "1,000");
        assert_eq!(int(1_234_567), "1,234,567");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1_258_291), "1.2 MiB");
        assert_eq!(dur(0.0123), "12.3 ms");
        assert_eq!(dur(0.25), "250 ms");
        assert_eq!(dur(1.5), "1.50 s");
        assert_eq!(dur(f64::NAN), "—");
        assert_eq!(span(12.34), "12.3 s");
        assert_eq!(span(0.025), "25.0 ms");
        assert_eq!(span(125.0), "2 min 5 s");
        assert_eq!(span(7800.0), "2 h 10 min");
        assert_eq!(rate(2.0), "2.00/s");
        assert_eq!(pct(1, 8), "12.5%");
        assert_eq!(pct(1, 0), "0.0%");
        assert_eq!(tick(2.5), "2.5");
        assert_eq!(tick(1000.0), "1,000");
        assert_eq!(N(12.04).to_string(), "12");
        assert_eq!(N(-0.35).to_string(), "-0.4");
        assert_eq!(N(f64::INFINITY).to_string(), "0");
        assert_eq!(raw(f64::NAN), "0");
        assert_eq!(raw(12.5), "12.5");
        assert_eq!(clip("abcdef", 3), "abc… (3 more characters)");
        assert_eq!(clip("abc", 3), "abc");
    }

    #[test]
    fn dates_in_utc() {
        assert_eq!(utc(1.0).as_deref(), Some("1970-01-01 00:00:01 UTC"));
        assert_eq!(
            utc(1_700_000_000.0).as_deref(),
            Some("2023-11-14 22:13:20 UTC")
        );
        assert_eq!(
            utc(951_782_400.0).as_deref(),
            Some("2000-02-29 00:00:00 UTC")
        );
        assert_eq!(utc(0.0), None);
        assert_eq!(utc(f64::NAN), None);
    }
}
