//! Durations as the AppWrapper controller reads them (Go's `time.ParseDuration`: `90s`, `5m`, `1h30m`).
//!
//! Users of the MLBatch chart write `1d`, which Go rejects and the controller then silently ignores.
//! We accept `d` and convert it to hours, so the annotation the cluster reads is what the user meant.

use thiserror::Error;

/// A duration that failed to parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "{value:?} is not a duration: {reason}; write a number with a unit s, m, h or d, e.g. 90s, 30m, 1h30m, 2d"
)]
pub struct DurationError {
    pub value: String,
    pub reason: &'static str,
}

/// Parse a duration into whole seconds; accepts `ms`, `s`, `m`, `h`, `d` and Go's combined forms.
pub fn parse_seconds(s: &str) -> Result<u64, DurationError> {
    let err = |reason| DurationError {
        value: s.to_string(),
        reason,
    };
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(err("it is empty"));
    }
    let mut rest = s;
    let mut millis: u128 = 0;
    while !rest.is_empty() {
        let n_end = rest
            .find(|c: char| !c.is_ascii_digit())
            .ok_or_else(|| err("a number has no unit"))?;
        if n_end == 0 {
            return Err(err("each unit needs a whole number before it"));
        }
        let n: u128 = rest[..n_end]
            .parse()
            .map_err(|_| err("a number is too large"))?;
        rest = &rest[n_end..];
        let u_end = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let factor: u128 = match &rest[..u_end] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(err("the unit is unknown")),
        };
        millis = n
            .checked_mul(factor)
            .and_then(|v| v.checked_add(millis))
            .ok_or_else(|| err("it is too large"))?;
        rest = &rest[u_end..];
    }
    u64::try_from(millis / 1000).map_err(|_| err("it is too large"))
}

/// Normalise a duration to the form Go parses: `d` becomes hours, everything else is kept as hours,
/// minutes and seconds (`1d` → `24h`, `90m` → `1h30m`, `0` → `0s`).
pub fn normalise(s: &str) -> Result<String, DurationError> {
    let total = parse_seconds(s)?;
    if total == 0 {
        return Ok("0s".into());
    }
    let (h, m, sec) = (total / 3600, (total % 3600) / 60, total % 60);
    let mut out = String::new();
    if h > 0 {
        out += &format!("{h}h");
    }
    if m > 0 {
        out += &format!("{m}m");
    }
    if sec > 0 {
        out += &format!("{sec}s");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_become_hours_never_dropped() {
        let cases = [
            ("1d", "24h"),
            ("2d12h", "60h"),
            ("90m", "1h30m"),
            ("30s", "30s"),
            ("0", "0s"),
            ("1h0m5s", "1h5s"),
        ];
        for (input, want) in cases {
            assert_eq!(normalise(input).unwrap(), want, "{input}");
        }
    }

    #[test]
    fn rejects_with_the_fix() {
        for bad in ["", "1", "1x", "h", "1.5h", "-1h"] {
            let e = parse_seconds(bad).unwrap_err().to_string();
            assert!(e.contains("write a number with a unit"), "{bad}: {e}");
        }
    }
}
