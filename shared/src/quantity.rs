//! Kubernetes resource quantities (`500m`, `1.5Gi`, `2`, `1e3`).
//!
//! The engine compares requests with limits and halves memory limits for `/dev/shm`, so it needs exact
//! arithmetic: quantities are kept as an integer number of nano-units, like the API server's
//! `resource.Quantity` (<https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/quantity/>).

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

const NANO: i128 = 1_000_000_000;

/// A parsed quantity, exact to a nano-unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity {
    nanos: i128,
}

/// Why a string is not a quantity.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "{value:?} is not a Kubernetes quantity: {reason}; use a number with an optional suffix such as 500m, 2, 1.5Gi or 200M"
)]
pub struct QuantityError {
    pub value: String,
    pub reason: &'static str,
}

impl Quantity {
    /// The quantity `n` whole units.
    pub fn from_units(n: i64) -> Self {
        Quantity {
            nanos: i128::from(n) * NANO,
        }
    }

    /// The quantity as a number of nano-units.
    pub fn nanos(self) -> i128 {
        self.nanos
    }

    pub fn is_zero(self) -> bool {
        self.nanos == 0
    }

    /// The whole units, rounded up (what a scheduler counts for GPUs).
    pub fn ceil_units(self) -> i128 {
        self.nanos.saturating_add(NANO - 1).div_euclid(NANO)
    }

    /// Multiply by `num/den`, rounding down to a whole unit (used for memory sizes).
    pub fn scale_floor_units(self, num: u64, den: u64) -> Quantity {
        let units = self.nanos.div_euclid(NANO) * i128::from(num) / i128::from(den.max(1));
        Quantity {
            nanos: units * NANO,
        }
    }

    pub fn checked_add(self, other: Quantity) -> Option<Quantity> {
        self.nanos
            .checked_add(other.nanos)
            .map(|nanos| Quantity { nanos })
    }

    /// Canonical text for a byte count: the largest binary suffix that divides it exactly.
    pub fn to_binary_string(self) -> String {
        if self.nanos % NANO != 0 || self.nanos <= 0 {
            return self.to_string();
        }
        let units = self.nanos / NANO;
        for (suffix, factor) in BINARY.iter().rev() {
            if units % factor == 0 {
                return format!("{}{}", units / factor, suffix);
            }
        }
        units.to_string()
    }
}

const BINARY: [(&str, i128); 6] = [
    ("Ki", 1 << 10),
    ("Mi", 1 << 20),
    ("Gi", 1 << 30),
    ("Ti", 1 << 40),
    ("Pi", 1 << 50),
    ("Ei", 1 << 60),
];

/// Decimal suffixes as a power of ten relative to one unit.
const DECIMAL: [(&str, i32); 9] = [
    ("n", -9),
    ("u", -6),
    ("m", -3),
    ("k", 3),
    ("M", 6),
    ("G", 9),
    ("T", 12),
    ("P", 15),
    ("E", 18),
];

impl FromStr for Quantity {
    type Err = QuantityError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| QuantityError {
            value: s.to_string(),
            reason,
        };
        if s.is_empty() {
            return Err(err("it is empty"));
        }
        let (sign, body) = match s.as_bytes()[0] {
            b'-' => (-1, &s[1..]),
            b'+' => (1, &s[1..]),
            _ => (1, s),
        };
        let num_end = body
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(body.len());
        let (number, suffix) = body.split_at(num_end);
        if number.is_empty() || number == "." {
            return Err(err("it does not start with a number"));
        }
        if number.matches('.').count() > 1 {
            return Err(err("it has more than one decimal point"));
        }
        let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
        // mantissa = the digits as one integer, exp10 = the power of ten to apply to it. Read digit by
        // digit, without joining the two parts into a string: the webhook parses ~8 quantities per
        // admission. At most 30 significant digits, so the mantissa stays below 10^30 < i128::MAX.
        let mut mantissa: i128 = 0;
        let mut significant = 0;
        for digit in int_part.bytes().chain(frac_part.bytes()) {
            if significant == 0 && digit == b'0' {
                continue;
            }
            significant += 1;
            if significant > 30 {
                return Err(err("it has too many digits"));
            }
            mantissa = mantissa * 10 + i128::from(digit - b'0');
        }
        let mut exp10: i32 = -(frac_part.len() as i32);
        let mut binary: i128 = 1;
        if let Some(&(_, f)) = BINARY.iter().find(|(name, _)| *name == suffix) {
            binary = f;
        } else if let Some(&(_, e)) = DECIMAL.iter().find(|(name, _)| *name == suffix) {
            exp10 += e;
        } else if let Some(exp) = suffix.strip_prefix(['e', 'E']) {
            let e: i32 = exp
                .parse()
                .map_err(|_| err("its exponent is not a whole number"))?;
            if !(-30..=30).contains(&e) {
                return Err(err("its exponent is out of range"));
            }
            exp10 += e;
        } else if !suffix.is_empty() {
            return Err(err(
                "its suffix is unknown (known: n u m k M G T P E Ki Mi Gi Ti Pi Ei)",
            ));
        }
        // nanos = mantissa * binary * 10^(exp10 + 9), rounded up like the API server does
        let exp = exp10 + 9;
        let too_large = || err("it is too large");
        let base = mantissa.checked_mul(binary).ok_or_else(too_large)?;
        let nanos = if exp >= 0 {
            10i128
                .checked_pow(exp as u32)
                .and_then(|p| base.checked_mul(p))
                .ok_or_else(too_large)?
        } else {
            let p = 10i128.checked_pow((-exp) as u32).ok_or_else(too_large)?;
            (base + p - 1) / p
        };
        Ok(Quantity {
            nanos: sign * nanos,
        })
    }
}

impl fmt::Display for Quantity {
    /// Decimal text with the smallest of the units `n`, `u`, `m` or none that is exact.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.nanos;
        if n % NANO == 0 {
            write!(f, "{}", n / NANO)
        } else if n % 1_000_000 == 0 {
            write!(f, "{}m", n / 1_000_000)
        } else if n % 1_000 == 0 {
            write!(f, "{}u", n / 1_000)
        } else {
            write!(f, "{n}n")
        }
    }
}

/// Parse a quantity given either as a JSON string or a JSON number (manifests use both: `"8"` and `8`).
pub fn from_json(value: &serde_json::Value) -> Result<Quantity, QuantityError> {
    match value {
        serde_json::Value::String(s) => s.parse(),
        serde_json::Value::Number(n) => n.to_string().parse(),
        other => Err(QuantityError {
            value: other.to_string(),
            reason: "it is neither a string nor a number",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        s.parse().unwrap()
    }

    #[test]
    fn parses_the_forms_kubernetes_accepts() {
        let cases = [
            ("2", 2 * NANO),
            ("500m", NANO / 2),
            ("1.5", 3 * NANO / 2),
            ("1Ki", 1024 * NANO),
            ("1.5Gi", 3 * (1 << 29) * NANO),
            ("200M", 200_000_000 * NANO),
            ("1e3", 1000 * NANO),
            ("1E3", 1000 * NANO),
            ("0", 0),
            ("+3", 3 * NANO),
            ("-1", -NANO),
            ("1n", 1),
            ("100u", 100_000),
            (".5", NANO / 2),
            ("1.", NANO),
            ("007", 7 * NANO),
            ("0.000", 0),
            ("-0.25", -NANO / 4),
            ("0.5e1", 5 * NANO),
            ("1.5Ki", 1536 * NANO),
            // Leading zeros are not significant digits: 40 characters, one digit.
            ("0000000000000000000000000000000000000001", NANO),
            ("0.000000001", 1),
            // Below a nano-unit rounds up, as the API server does.
            ("0.0000000001", 1),
            (
                "123456789012345678901234567890n",
                123_456_789_012_345_678_901_234_567_890,
            ),
        ];
        for (text, nanos) in cases {
            assert_eq!(q(text).nanos(), nanos, "{text}");
        }
    }

    #[test]
    fn rejects_nonsense_with_a_reason() {
        for bad in [
            "",
            "abc",
            "1.2.3",
            "5Gb",
            "1Gi ",
            "Gi",
            "1e",
            "1e99",
            "--1",
            ".",
            "1234567890123456789012345678901",
            "1e30",
        ] {
            let e = bad.parse::<Quantity>().unwrap_err();
            assert!(
                e.to_string().contains("is not a Kubernetes quantity"),
                "{e}"
            );
        }
    }

    #[test]
    fn compares_across_suffixes() {
        assert!(q("1Gi") > q("1G"));
        assert!(q("500m") < q("1"));
        assert_eq!(q("1000m"), q("1"));
        assert_eq!(q("1024Mi"), q("1Gi"));
    }

    #[test]
    fn halves_memory_to_a_readable_size() {
        assert_eq!(
            q("256Gi").scale_floor_units(1, 2).to_binary_string(),
            "128Gi"
        );
        assert_eq!(q("1Gi").scale_floor_units(1, 2).to_binary_string(), "512Mi");
        assert_eq!(q("3").scale_floor_units(1, 2).to_binary_string(), "1");
        assert_eq!(
            q("1G").scale_floor_units(1, 2).to_binary_string(),
            "500000000"
        );
    }

    #[test]
    fn displays_canonically() {
        assert_eq!(q("0.5").to_string(), "500m");
        assert_eq!(q("2").to_string(), "2");
        assert_eq!(q("1.5").ceil_units(), 2);
    }

    #[test]
    fn reads_json_strings_and_numbers() {
        assert_eq!(from_json(&serde_json::json!("8")).unwrap(), q("8"));
        assert_eq!(from_json(&serde_json::json!(8)).unwrap(), q("8"));
        assert_eq!(from_json(&serde_json::json!(0.5)).unwrap(), q("500m"));
        assert!(from_json(&serde_json::json!(true)).is_err());
    }
}
