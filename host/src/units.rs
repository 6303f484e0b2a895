//! Durations and sizes as people write them: one parser each for the
//! command line (clap `value_parser`) and the manifest (serde
//! `deserialize_with`), and the matching formatting for the defaults shown
//! in `--help`.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

/// `10s`, `500ms`, `2m`, `1h 30m`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(secs)
            .map_err(|_| format!("{text:?} is not a valid number of seconds"));
    }
    humantime::parse_duration(text)
        .map_err(|e| format!("{text:?} is not a duration like 10s, 500ms or 2m ({e})"))
}

/// `1024`, `64KiB`, `16MiB`, `1GiB` (also `K`/`KB`/`M`/`MB`/`G`/`GB`, all
/// binary multiples).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size like 4096, 64KiB or 16MiB"))?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "{text:?} has an unknown unit (use KiB, MiB or GiB)"
            ));
        }
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// `d` as [`parse_duration`] reads it back: `250ms`, `30s`, `60s`, `10m`, `1h`
/// (minutes from two on, so that a minute reads `60s`).
pub fn format_duration(d: Duration) -> String {
    if !d.subsec_nanos().is_multiple_of(1_000_000) {
        return humantime::format_duration(d).to_string();
    }
    if d.subsec_nanos() != 0 {
        return format!("{}ms", d.as_millis());
    }
    match d.as_secs() {
        s if s >= 3600 && s.is_multiple_of(3600) => format!("{}h", s / 3600),
        s if s >= 120 && s.is_multiple_of(60) => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// `bytes` as [`parse_size`] reads it back: `64KiB`, `16MiB`, `1GiB`, or a
/// plain number of bytes.
pub fn format_size(bytes: u64) -> String {
    match bytes {
        0 => "0".to_owned(),
        b if b.is_multiple_of(1 << 30) => format!("{}GiB", b >> 30),
        b if b.is_multiple_of(1 << 20) => format!("{}MiB", b >> 20),
        b if b.is_multiple_of(1 << 10) => format!("{}KiB", b >> 10),
        b => b.to_string(),
    }
}

/// A flag's help text, ending with the default it falls back to.
pub fn with_default(help: &str, default: impl std::fmt::Display) -> String {
    format!("{help} [default: {default}]")
}

/// serde `deserialize_with` for an optional size in a manifest: the text
/// [`parse_size`] reads (`"16MiB"`), with its error.
pub fn de_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let text = String::deserialize(d)?;
    parse_size(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// serde `deserialize_with` for an optional duration in a manifest: the
/// text [`parse_duration`] reads (`"30s"`), with its error.
pub fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// A `&'static str` made once from `text` (a `String` expression), for
/// clap's `default_value`, which takes no `String`: e.g.
/// `default_value = static_str!(format_duration(DEFAULT_DNS_TTL))`.
macro_rules! static_str {
    ($text:expr) => {{
        static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        TEXT.get_or_init(|| $text).as_str()
    }};
}
pub(crate) use static_str;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("64KiB"), Ok(64 * 1024));
        assert_eq!(parse_size("16MiB"), Ok(16 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("MiB").is_err());
    }

    #[test]
    fn formatted_values_read_back() {
        for d in [
            0, 250, 1_000, 10_000, 60_000, 120_000, 600_000, 3_600_000, 5_400_000, 1_500,
        ] {
            let d = Duration::from_millis(d);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d), "{d:?}");
        }
        assert_eq!(format_duration(Duration::from_secs(60)), "60s");
        assert_eq!(format_duration(Duration::from_secs(600)), "10m");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        let d = Duration::from_nanos(1_500);
        assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        for b in [
            0,
            1,
            1000,
            1024,
            64 << 10,
            16 << 20,
            1 << 30,
            3 << 30,
            (1 << 20) + 1,
        ] {
            assert_eq!(parse_size(&format_size(b)), Ok(b), "{b}");
        }
        assert_eq!(format_size(256 << 20), "256MiB");
    }
}
