//! Money in integer minor units and the currencies the shop can be configured with.
//!
//! Owns parsing decimal prices ("4.99", "1.234,50" is rejected, not guessed) into
//! minor units without floating point, and formatting them back. It must not know
//! about products or storage.

use std::fmt;

/// An ISO 4217 currency with its number of minor-unit digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Currency {
    code: &'static str,
    exponent: u32,
    symbol: &'static str,
}

/// Currencies a shop can choose; the exponent is the ISO 4217 minor-unit count.
const CURRENCIES: &[Currency] = &[
    Currency {
        code: "USD",
        exponent: 2,
        symbol: "$",
    },
    Currency {
        code: "EUR",
        exponent: 2,
        symbol: "€",
    },
    Currency {
        code: "GBP",
        exponent: 2,
        symbol: "£",
    },
    Currency {
        code: "CAD",
        exponent: 2,
        symbol: "CA$",
    },
    Currency {
        code: "AUD",
        exponent: 2,
        symbol: "A$",
    },
    Currency {
        code: "NZD",
        exponent: 2,
        symbol: "NZ$",
    },
    Currency {
        code: "CHF",
        exponent: 2,
        symbol: "CHF ",
    },
    Currency {
        code: "SEK",
        exponent: 2,
        symbol: "kr ",
    },
    Currency {
        code: "NOK",
        exponent: 2,
        symbol: "kr ",
    },
    Currency {
        code: "DKK",
        exponent: 2,
        symbol: "kr ",
    },
    Currency {
        code: "PLN",
        exponent: 2,
        symbol: "zł ",
    },
    Currency {
        code: "INR",
        exponent: 2,
        symbol: "₹",
    },
    Currency {
        code: "ZAR",
        exponent: 2,
        symbol: "R",
    },
    Currency {
        code: "MYR",
        exponent: 2,
        symbol: "RM",
    },
    Currency {
        code: "SGD",
        exponent: 2,
        symbol: "S$",
    },
    Currency {
        code: "EGP",
        exponent: 2,
        symbol: "E£",
    },
    Currency {
        code: "HNL",
        exponent: 2,
        symbol: "L",
    },
    Currency {
        code: "MXN",
        exponent: 2,
        symbol: "MX$",
    },
    Currency {
        code: "BRL",
        exponent: 2,
        symbol: "R$",
    },
    Currency {
        code: "AED",
        exponent: 2,
        symbol: "AED ",
    },
    Currency {
        code: "JPY",
        exponent: 0,
        symbol: "¥",
    },
    Currency {
        code: "KRW",
        exponent: 0,
        symbol: "₩",
    },
    Currency {
        code: "KWD",
        exponent: 3,
        symbol: "KD ",
    },
    Currency {
        code: "BHD",
        exponent: 3,
        symbol: "BD ",
    },
];

impl Currency {
    /// Looks a currency up by its ISO code, case-insensitively.
    pub fn from_code(code: &str) -> Option<Currency> {
        CURRENCIES
            .iter()
            .copied()
            .find(|c| c.code.eq_ignore_ascii_case(code.trim()))
    }

    /// Every supported code, for error messages and docs.
    pub fn supported_codes() -> Vec<&'static str> {
        CURRENCIES.iter().map(|c| c.code).collect()
    }

    pub fn code(&self) -> &'static str {
        self.code
    }

    pub fn exponent(&self) -> u32 {
        self.exponent
    }

    /// Parses a decimal amount in major units ("4.99", "12", "0.5") into minor units.
    ///
    /// Thousands separators and more fraction digits than the currency has are
    /// rejected rather than rounded: a price is never silently changed.
    pub fn parse_amount(&self, text: &str) -> Result<Money, MoneyError> {
        let text = text.trim();
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        if negative {
            return Err(MoneyError::Negative);
        }
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty() && fraction.is_empty() {
            return Err(MoneyError::NotANumber(text.to_string()));
        }
        if !whole.bytes().all(|b| b.is_ascii_digit())
            || !fraction.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(MoneyError::NotANumber(text.to_string()));
        }
        let fraction = fraction.trim_end_matches('0');
        if fraction.len() > self.exponent as usize {
            return Err(MoneyError::TooPrecise {
                text: text.to_string(),
                currency: self.code,
                digits: self.exponent,
            });
        }
        let scale = 10i64.pow(self.exponent);
        let whole: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| MoneyError::TooLarge)?
        };
        let mut minor_fraction: i64 = 0;
        if !fraction.is_empty() {
            let padded = format!("{fraction:0<width$}", width = self.exponent as usize);
            minor_fraction = padded.parse().map_err(|_| MoneyError::TooLarge)?;
        }
        let minor = whole
            .checked_mul(scale)
            .and_then(|m| m.checked_add(minor_fraction))
            .filter(|m| *m <= Money::MAX_MINOR)
            .ok_or(MoneyError::TooLarge)?;
        Ok(Money(minor))
    }

    /// Formats minor units as a plain decimal in major units ("4.99").
    pub fn format_plain(&self, money: Money) -> String {
        if self.exponent == 0 {
            return money.0.to_string();
        }
        let scale = 10i64.pow(self.exponent);
        format!(
            "{}.{:0width$}",
            money.0 / scale,
            money.0 % scale,
            width = self.exponent as usize
        )
    }

    /// Formats minor units for people ("$4.99").
    pub fn format_display(&self, money: Money) -> String {
        format!("{}{}", self.symbol, self.format_plain(money))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code)
    }
}

/// A non-negative amount in the shop currency's minor units (cents for USD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);

    /// Ten trillion minor units: far above any shop price, far below `i64::MAX`
    /// so that sums of many lines cannot overflow.
    pub const MAX_MINOR: i64 = 10_000_000_000_000;

    pub fn from_minor(minor: i64) -> Result<Money, MoneyError> {
        if minor < 0 {
            Err(MoneyError::Negative)
        } else if minor > Self::MAX_MINOR {
            Err(MoneyError::TooLarge)
        } else {
            Ok(Money(minor))
        }
    }

    pub fn minor(self) -> i64 {
        self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("\"{0}\" is not a decimal amount (use digits and an optional '.', like 4.99)")]
    NotANumber(String),
    #[error("amount must not be negative")]
    Negative,
    #[error("amount is too large")]
    TooLarge,
    #[error("\"{text}\" has more decimals than {currency} allows ({digits})")]
    TooPrecise {
        text: String,
        currency: &'static str,
        digits: u32,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency::from_code("usd").unwrap()
    }

    #[test]
    fn parses_decimal_prices_exactly() {
        assert_eq!(usd().parse_amount("4.99").unwrap().minor(), 499);
        assert_eq!(usd().parse_amount("12").unwrap().minor(), 1200);
        assert_eq!(usd().parse_amount("0.5").unwrap().minor(), 50);
        assert_eq!(usd().parse_amount(".5").unwrap().minor(), 50);
        assert_eq!(usd().parse_amount("14200.00").unwrap().minor(), 1_420_000);
        assert_eq!(usd().parse_amount("3.100").unwrap().minor(), 310);
    }

    #[test]
    fn rejects_what_it_would_have_to_guess() {
        assert!(matches!(
            usd().parse_amount("4.999"),
            Err(MoneyError::TooPrecise { .. })
        ));
        assert!(matches!(
            usd().parse_amount("1,299.00"),
            Err(MoneyError::NotANumber(_))
        ));
        assert!(matches!(
            usd().parse_amount("-1"),
            Err(MoneyError::Negative)
        ));
        assert!(matches!(
            usd().parse_amount(""),
            Err(MoneyError::NotANumber(_))
        ));
        assert!(matches!(
            usd().parse_amount("."),
            Err(MoneyError::NotANumber(_))
        ));
        assert!(matches!(
            usd().parse_amount("1e5"),
            Err(MoneyError::NotANumber(_))
        ));
        assert!(matches!(
            usd().parse_amount("99999999999999999999"),
            Err(MoneyError::TooLarge)
        ));
    }

    #[test]
    fn formats_by_exponent() {
        let yen = Currency::from_code("JPY").unwrap();
        let dinar = Currency::from_code("KWD").unwrap();
        assert_eq!(usd().format_plain(Money(5)), "0.05");
        assert_eq!(usd().format_display(Money(1999)), "$19.99");
        assert_eq!(yen.format_plain(yen.parse_amount("500").unwrap()), "500");
        assert_eq!(
            dinar.format_plain(dinar.parse_amount("1.5").unwrap()),
            "1.500"
        );
    }
}
