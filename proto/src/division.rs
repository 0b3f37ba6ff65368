//! GB/T 2260 administrative division codes.
//!
//! A county-level division is six digits: province (2), prefecture (2), county (2). The county
//! part is never `00` (that is the prefecture itself). Only the format and the province prefix are
//! checked here; a code table, where loaded, is checked by the caller.

use std::fmt;

/// The two-digit province codes of GB/T 2260 (including 71 Taiwan, 81 Hong Kong, 82 Macao).
const PROVINCE_PREFIXES: &[&str] = &[
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41",
    "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71",
    "81", "82",
];

/// Why a division code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DivisionCodeError {
    #[error("expected a 6-digit GB/T 2260 county code such as 621202, got {0:?}")]
    Format(String),
    #[error("{0:?} does not start with a GB/T 2260 province code (11–65, 71, 81, 82)")]
    UnknownProvince(String),
    #[error("{0:?} ends in 00, which names a prefecture, not a county")]
    NotCounty(String),
    #[error("expected a 2-digit GB/T 2260 province code such as 62, got {0:?}")]
    ProvinceFormat(String),
}

/// A county-level division code, e.g. `621202`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountyCode([u8; 6]);

impl CountyCode {
    /// Parses a 6-digit county code; surrounding white space is ignored.
    pub fn parse(input: &str) -> Result<Self, DivisionCodeError> {
        let trimmed = input.trim();
        let bytes = trimmed.as_bytes();
        if bytes.len() != 6 || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(DivisionCodeError::Format(input.to_string()));
        }
        if !PROVINCE_PREFIXES.contains(&&trimmed[..2]) {
            return Err(DivisionCodeError::UnknownProvince(trimmed.to_string()));
        }
        if &trimmed[4..] == "00" {
            return Err(DivisionCodeError::NotCounty(trimmed.to_string()));
        }
        let mut code = [0u8; 6];
        code.copy_from_slice(bytes);
        Ok(Self(code))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("000000")
    }

    /// The province this county belongs to.
    pub fn province(&self) -> ProvinceCode {
        ProvinceCode([self.0[0], self.0[1]])
    }
}

impl fmt::Display for CountyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for CountyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CountyCode({})", self.as_str())
    }
}

impl std::str::FromStr for CountyCode {
    type Err = DivisionCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A province code, e.g. `62` (Gansu).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProvinceCode([u8; 2]);

impl ProvinceCode {
    /// Parses a 2-digit province code.
    pub fn parse(input: &str) -> Result<Self, DivisionCodeError> {
        let trimmed = input.trim();
        if !PROVINCE_PREFIXES.contains(&trimmed) {
            return Err(DivisionCodeError::ProvinceFormat(input.to_string()));
        }
        let bytes = trimmed.as_bytes();
        Ok(Self([bytes[0], bytes[1]]))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("00")
    }
}

impl fmt::Display for ProvinceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for ProvinceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProvinceCode({})", self.as_str())
    }
}

/// True when the first two digits of `code` are a GB/T 2260 province code.
pub fn has_province_prefix(code: &str) -> bool {
    code.len() >= 2 && code.is_char_boundary(2) && PROVINCE_PREFIXES.contains(&&code[..2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_county_codes() {
        for code in ["621202", "621221", "620102", "110105", "429004", " 440524 "] {
            let parsed = CountyCode::parse(code).expect(code);
            assert_eq!(parsed.as_str(), code.trim());
        }
        assert_eq!(
            CountyCode::parse("621202").unwrap().province().as_str(),
            "62"
        );
    }

    #[test]
    fn refuses_bad_codes_with_reason() {
        assert!(matches!(
            CountyCode::parse("62120"),
            Err(DivisionCodeError::Format(_))
        ));
        assert!(matches!(
            CountyCode::parse("62120a"),
            Err(DivisionCodeError::Format(_))
        ));
        assert!(matches!(
            CountyCode::parse("６２１２０２"),
            Err(DivisionCodeError::Format(_))
        ));
        assert!(matches!(
            CountyCode::parse("991202"),
            Err(DivisionCodeError::UnknownProvince(_))
        ));
        assert!(matches!(
            CountyCode::parse("621200"),
            Err(DivisionCodeError::NotCounty(_))
        ));
        let message = CountyCode::parse("12").unwrap_err().to_string();
        assert!(message.contains("6-digit"), "{message}");
    }

    #[test]
    fn province_codes() {
        assert_eq!(ProvinceCode::parse("62").unwrap().as_str(), "62");
        assert!(ProvinceCode::parse("99").is_err());
        assert!(ProvinceCode::parse("620").is_err());
        assert!(has_province_prefix("6212"));
        assert!(!has_province_prefix("9"));
        assert!(!has_province_prefix("é"));
    }
}
