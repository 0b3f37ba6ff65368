//! GB 11643 citizen ID numbers (公民身份号码).
//!
//! Eighteen characters: a 6-digit address code (GB/T 2260), the birth date `YYYYMMDD`, a 3-digit
//! sequence number whose last digit is odd for men and even for women, and an ISO 7064 MOD 11-2
//! check character (`0`–`9` or `X`). Fifteen-digit numbers issued before 1999 (`YYMMDD`, 19xx) are
//! upgraded to eighteen characters.
//!
//! Field data has wrong check digits, so [`CheckDigitMode::Warn`] accepts one and says so; every
//! other rule is always enforced. [`ResidentId`]'s `Display` and `Debug` are masked, so an ID that
//! slips into a log line does not leak; [`ResidentId::as_str`] gives the full number.

use std::fmt;

use jiff::civil::Date;

const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARACTERS: &[u8; 11] = b"10X98765432";

/// Whether a wrong check character is an error or a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckDigitMode {
    /// A wrong check character is refused.
    #[default]
    Strict,
    /// A wrong check character is accepted and the record flagged.
    Warn,
}

/// Why an ID number was refused. Each message says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResidentIdError {
    #[error("expected 18 characters (or a 15-digit legacy number), got {0}")]
    Length(usize),
    #[error("character {position} must be a digit{}", if *.position == 18 { " or X" } else { "" })]
    NotDigit { position: usize },
    #[error("the address code {0} does not start with a GB/T 2260 province code")]
    AddressCode(String),
    #[error("the birth date {0} (characters 7–14) is not a real date between 1850 and today")]
    BirthDate(String),
    #[error(
        "the check character is {found}, but characters 1–17 give {expected} (ISO 7064 MOD 11-2)"
    )]
    CheckDigit { expected: char, found: char },
}

/// A validated 18-character citizen ID number.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResidentId(String);

/// The outcome of parsing: the ID and whether its check character was wrong (warn mode only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedResidentId {
    pub id: ResidentId,
    /// Set in warn mode when the check character did not match: (expected, found).
    pub check_digit_mismatch: Option<(char, char)>,
    /// True when the input was a 15-digit legacy number.
    pub upgraded_from_15: bool,
}

/// The check character for the first 17 characters (which must be ASCII digits).
pub fn check_character(first17: &[u8]) -> char {
    let sum: u32 = first17
        .iter()
        .zip(WEIGHTS)
        .map(|(digit, weight)| u32::from(digit - b'0') * weight)
        .sum();
    CHECK_CHARACTERS[(sum % 11) as usize] as char
}

impl ResidentId {
    /// Parses strictly: a wrong check character is an error.
    pub fn parse(input: &str) -> Result<Self, ResidentIdError> {
        Self::parse_with(input, CheckDigitMode::Strict).map(|parsed| parsed.id)
    }

    /// Parses with the given check-digit mode, upgrading 15-digit numbers.
    pub fn parse_with(
        input: &str,
        mode: CheckDigitMode,
    ) -> Result<ParsedResidentId, ResidentIdError> {
        let trimmed = input.trim();
        let chars: Vec<char> = trimmed.chars().collect();
        let (digits17, found_check, upgraded_from_15) = match chars.len() {
            18 => {
                let mut digits = Vec::with_capacity(17);
                for (index, ch) in chars[..17].iter().enumerate() {
                    if !ch.is_ascii_digit() {
                        return Err(ResidentIdError::NotDigit {
                            position: index + 1,
                        });
                    }
                    digits.push(*ch as u8);
                }
                let check = chars[17].to_ascii_uppercase();
                if !(check.is_ascii_digit() || check == 'X') {
                    return Err(ResidentIdError::NotDigit { position: 18 });
                }
                (digits, Some(check), false)
            }
            15 => {
                let mut digits = Vec::with_capacity(17);
                for (index, ch) in chars.iter().enumerate() {
                    if !ch.is_ascii_digit() {
                        return Err(ResidentIdError::NotDigit {
                            position: index + 1,
                        });
                    }
                    if index == 6 {
                        digits.extend_from_slice(b"19");
                    }
                    digits.push(*ch as u8);
                }
                (digits, None, true)
            }
            other => return Err(ResidentIdError::Length(other)),
        };
        let text17 = String::from_utf8(digits17.clone()).unwrap_or_default();
        if !crate::division::has_province_prefix(&text17[..6]) {
            return Err(ResidentIdError::AddressCode(text17[..6].to_string()));
        }
        birth_date_of(&text17[6..14])?;
        let expected = check_character(&digits17);
        let mut check_digit_mismatch = None;
        if let Some(found) = found_check
            && found != expected
        {
            match mode {
                CheckDigitMode::Strict => {
                    return Err(ResidentIdError::CheckDigit { expected, found });
                }
                CheckDigitMode::Warn => check_digit_mismatch = Some((expected, found)),
            }
        }
        let check = found_check.unwrap_or(expected);
        Ok(ParsedResidentId {
            id: ResidentId(format!("{text17}{check}")),
            check_digit_mismatch,
            upgraded_from_15,
        })
    }

    /// The full 18-character number. Do not log it: use `Display` (masked) instead.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The birth date encoded in characters 7–14.
    pub fn birth_date(&self) -> Date {
        // Validated at parse time.
        birth_date_of(&self.0[6..14]).unwrap_or(Date::constant(1900, 1, 1))
    }

    /// The sex encoded in character 17 (odd: male).
    pub fn sex(&self) -> crate::v1::Sex {
        let digit = self.0.as_bytes()[16] - b'0';
        if digit % 2 == 1 {
            crate::v1::Sex::Male
        } else {
            crate::v1::Sex::Female
        }
    }

    /// The address code (characters 1–6) of the place of first registration.
    pub fn address_code(&self) -> &str {
        &self.0[..6]
    }

    /// The masked form for logs and listings: `621202********123X`.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

impl fmt::Display for ResidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Debug for ResidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResidentId({})", self.masked())
    }
}

/// Masks any ID-like text for a log line: keeps the first 6 and the last 4 characters of an
/// 18-character number, and hides everything of anything else but its length.
pub fn mask(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() >= 15 {
        let head: String = chars[..6].iter().collect();
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("{head}{}{tail}", "*".repeat(chars.len() - 10))
    } else {
        "*".repeat(chars.len())
    }
}

fn birth_date_of(yyyymmdd: &str) -> Result<Date, ResidentIdError> {
    let error = || ResidentIdError::BirthDate(yyyymmdd.to_string());
    let year: i16 = yyyymmdd[..4].parse().map_err(|_| error())?;
    let month: i8 = yyyymmdd[4..6].parse().map_err(|_| error())?;
    let day: i8 = yyyymmdd[6..8].parse().map_err(|_| error())?;
    let date = Date::new(year, month, day).map_err(|_| error())?;
    let today = crate::time::today_in_province();
    if year < 1850 || date > today {
        return Err(error());
    }
    Ok(date)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // The two worked examples printed in GB 11643-1999 itself.
    const STANDARD_EXAMPLES: [&str; 2] = ["11010519491231002X", "440524188001010014"];

    #[test]
    fn accepts_the_standards_examples() {
        for example in STANDARD_EXAMPLES {
            let id = ResidentId::parse(example).expect(example);
            assert_eq!(id.as_str(), example);
        }
        let id = ResidentId::parse("11010519491231002x").unwrap();
        assert_eq!(
            id.as_str(),
            "11010519491231002X",
            "lowercase x is normalised"
        );
        assert_eq!(id.birth_date(), Date::constant(1949, 12, 31));
        assert_eq!(id.sex(), crate::v1::Sex::Female);
        assert_eq!(
            ResidentId::parse("440524188001010014").unwrap().sex(),
            crate::v1::Sex::Male
        );
    }

    #[test]
    fn refuses_known_bad_numbers() {
        let cases = [
            ("11010519491231002", ResidentIdError::Length(17)),
            (
                "110105194912310021",
                ResidentIdError::CheckDigit {
                    expected: 'X',
                    found: '1',
                },
            ),
            (
                "11010519491331002X",
                ResidentIdError::BirthDate("19491331".into()),
            ),
            (
                "11010518490101002X",
                ResidentIdError::BirthDate("18490101".into()),
            ),
            (
                "11010519490230002X",
                ResidentIdError::BirthDate("19490230".into()),
            ),
            (
                "1101051949123100AX",
                ResidentIdError::NotDigit { position: 17 },
            ),
            (
                "11010519491231002Y",
                ResidentIdError::NotDigit { position: 18 },
            ),
            (
                "99010519491231002X",
                ResidentIdError::AddressCode("990105".into()),
            ),
            ("", ResidentIdError::Length(0)),
            (
                "１１０１０５１９４９１２３１００２X",
                ResidentIdError::NotDigit { position: 1 },
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(ResidentId::parse(input), Err(expected), "{input}");
        }
    }

    #[test]
    fn future_birth_dates_are_refused() {
        let first17 = b"11010520991231002";
        let id = format!(
            "{}{}",
            std::str::from_utf8(first17).unwrap(),
            check_character(first17)
        );
        assert!(matches!(
            ResidentId::parse(&id),
            Err(ResidentIdError::BirthDate(_))
        ));
    }

    #[test]
    fn warn_mode_accepts_a_wrong_check_digit_and_says_so() {
        let parsed = ResidentId::parse_with("110105194912310021", CheckDigitMode::Warn).unwrap();
        assert_eq!(parsed.id.as_str(), "110105194912310021");
        assert_eq!(parsed.check_digit_mismatch, Some(('X', '1')));
        // Everything else is still enforced in warn mode.
        assert!(ResidentId::parse_with("11010519491331002X", CheckDigitMode::Warn).is_err());
    }

    #[test]
    fn upgrades_legacy_15_digit_numbers() {
        let parsed = ResidentId::parse_with("110105491231002", CheckDigitMode::Strict).unwrap();
        assert!(parsed.upgraded_from_15);
        assert_eq!(parsed.id.as_str(), "11010519491231002X");
    }

    #[test]
    fn display_and_debug_are_masked() {
        let id = ResidentId::parse("11010519491231002X").unwrap();
        assert_eq!(id.to_string(), "110105********002X");
        assert!(!format!("{id:?}").contains("19491231"));
        assert_eq!(mask("abc"), "***");
    }

    proptest! {
        #[test]
        fn a_computed_check_character_always_validates(
            seq in 0u32..1000, year in 1900i16..2020, month in 1i8..=12, day in 1i8..=28
        ) {
            let first17 = format!("621202{year:04}{month:02}{day:02}{seq:03}");
            let id = format!("{first17}{}", check_character(first17.as_bytes()));
            let parsed = ResidentId::parse(&id).unwrap();
            prop_assert_eq!(parsed.as_str(), id.as_str());
            prop_assert_eq!(parsed.birth_date(), Date::new(year, month, day).unwrap());
        }

        #[test]
        fn any_single_digit_change_is_caught(position in 0usize..17, delta in 1u8..10) {
            let original = b"11010519491231002X".to_vec();
            let mut changed = original.clone();
            changed[position] = b'0' + (changed[position] - b'0' + delta) % 10;
            let text = String::from_utf8(changed).unwrap();
            // Either some other rule refuses it, or the check character catches it.
            prop_assert!(ResidentId::parse(&text).is_err());
        }

        #[test]
        fn never_panics_on_arbitrary_text(input in "\\PC{0,24}") {
            let _ = ResidentId::parse_with(&input, CheckDigitMode::Warn);
            let _ = mask(&input);
        }
    }
}
