//! Human sizes on the command line: `512M`, `10G`, `1.5T`, plain bytes.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("`{0}` is not a size: write a number with an optional K, M, G or T suffix (e.g. 10G)")]
pub struct BadSize(pub String);

/// Parses a size in bytes; suffixes are binary (K = 1024).
pub fn parse_size(text: &str) -> Result<u64, BadSize> {
    let t = text.trim();
    let bad = || BadSize(text.to_string());
    let (num, mult) = match t.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        None => (t, 1u64),
        Some((i, _)) => {
            let mult = match t[i..].to_ascii_uppercase().trim_end_matches(['B', 'I']) {
                "" => 1,
                "K" => 1 << 10,
                "M" => 1 << 20,
                "G" => 1 << 30,
                "T" => 1 << 40,
                "P" => 1 << 50,
                _ => return Err(bad()),
            };
            (&t[..i], mult)
        }
    };
    let value: f64 = num.trim().parse().map_err(|_| bad())?;
    if !value.is_finite() || value < 0.0 {
        return Err(bad());
    }
    let bytes = value * mult as f64;
    if bytes > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// Formats bytes for people: `1.5G`, `512M`, `12K`, `100B`.
pub fn format_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "K", "M", "G", "T", "P"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes}B")
    } else if v >= 100.0 {
        format!("{v:.0}{}", UNITS[u])
    } else {
        format!("{v:.1}{}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_suffixes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("10G"), Ok(10 << 30));
        assert_eq!(parse_size("512m"), Ok(512 << 20));
        assert_eq!(parse_size("1.5K"), Ok(1536));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        for bad in ["ten", "5X", "-1"] {
            assert_eq!(parse_size(bad), Err(BadSize(bad.to_string())));
        }
    }

    #[test]
    fn formats() {
        assert_eq!(format_size(100), "100B");
        assert_eq!(format_size(1536), "1.5K");
        assert_eq!(format_size(200 << 30), "200G");
    }
}
