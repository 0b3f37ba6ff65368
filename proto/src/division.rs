//! GB/T 2260 administrative division codes.
//!
//! A county-level division is six digits: province (2), prefecture (2), county (2). The county
//! part is never `00` (that is the prefecture itself). [`CountyCode::parse`] checks only the format
//! and the province prefix; [`DivisionTable`] holds the code list itself (the edition shipped in
//! `deploy/divisions`, compiled in) and [`DivisionTable::check_county`] refuses a well-formed code
//! that is no county of that edition, saying when it was abolished where that is known.

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;

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
    /// Well-formed, but no county in the code table: unknown, or abolished (then `abolished` says
    /// when and what took its place).
    #[error(
        "{code} is no county in GB/T 2260 edition {edition}{}",
        abolished.as_deref().map(Abolition::clause).unwrap_or_default()
    )]
    NotInEdition {
        code: String,
        edition: String,
        abolished: Option<Box<Abolition>>,
    },
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

/// The edition compiled in, its table and the codes that ended before it (`deploy/divisions`).
const SHIPPED_EDITION: &str = "2026-09";
const SHIPPED_TABLE: &str = include_str!("../../deploy/divisions/gb2260-2026-09.csv");
const SHIPPED_ABOLISHED: &str = include_str!("../../deploy/divisions/abolished.csv");

static SHIPPED: LazyLock<DivisionTable> = LazyLock::new(|| {
    // The files are fixed at build time and a unit test parses them, so this cannot fail on input.
    DivisionTable::from_csv(SHIPPED_EDITION, SHIPPED_TABLE, Some(SHIPPED_ABOLISHED))
        .unwrap_or_else(|error| panic!("deploy/divisions does not parse: {error}"))
});

/// The level of a division in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DivisionLevel {
    /// 省级: code `XX0000`.
    Province,
    /// 地级: code `XXYY00`.
    Prefecture,
    /// 县级: code `XXYYZZ`, `ZZ` not `00`.
    County,
}

impl DivisionLevel {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "province" => Some(Self::Province),
            "prefecture" => Some(Self::Prefecture),
            "county" => Some(Self::County),
            _ => None,
        }
    }

    /// Whether a 6-digit `code` has this level's shape.
    fn fits(self, code: &str) -> bool {
        match self {
            Self::Province => &code[2..] == "0000",
            Self::Prefecture => &code[2..4] != "00" && &code[4..] == "00",
            Self::County => &code[4..] != "00",
        }
    }
}

/// A county-level code that is no longer in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Abolition {
    /// The county's name when it ended.
    pub name: String,
    /// The year the code ended.
    pub year: u16,
    /// The county in force in the table's edition that took over its area, where known.
    pub successor: Option<(CountyCode, String)>,
}

impl Abolition {
    /// The tail of the refusal message: ": 武都县 was abolished in 2004, succeeded by 621202 武都区".
    fn clause(&self) -> String {
        match &self.successor {
            Some((code, name)) => format!(
                ": {} was abolished in {}, succeeded by {code} {name}",
                self.name, self.year
            ),
            None => format!(": {} was abolished in {}", self.name, self.year),
        }
    }
}

/// Why a division table was refused: which file, which line, what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}, line {line}: {message}")]
pub struct DivisionTableError {
    /// `table` or `abolished`.
    pub file: &'static str,
    /// 1-based line number (0 when the problem is not one line's).
    pub line: u64,
    pub message: String,
}

#[derive(Debug, Clone)]
struct Division {
    name: String,
    level: DivisionLevel,
}

/// A GB/T 2260 code table of one edition: provinces, prefectures and counties by code, and the
/// county codes that ended before it.
#[derive(Debug, Clone)]
pub struct DivisionTable {
    edition: String,
    divisions: HashMap<String, Division>,
    abolished: HashMap<String, Abolition>,
}

impl DivisionTable {
    /// The edition shipped with this build (`deploy/divisions`), parsed on first use.
    pub fn shipped() -> &'static DivisionTable {
        &SHIPPED
    }

    /// Parses a table: `table` is CSV with the header `code,name,level` (level `province`,
    /// `prefecture` or `county`); `abolished`, if any, is CSV with the header
    /// `code,name,abolished_in,successor` (successor empty or a county of `table`).
    /// A malformed or inconsistent line is an error naming the file and line.
    pub fn from_csv(
        edition: &str,
        table: &str,
        abolished: Option<&str>,
    ) -> Result<Self, DivisionTableError> {
        let mut divisions = HashMap::new();
        for (line, [code, name, level]) in csv_rows("table", table, ["code", "name", "level"])? {
            let error = |message: String| DivisionTableError {
                file: "table",
                line,
                message,
            };
            let (code, name, level) = (code.as_str(), name.as_str(), level.as_str());
            if !is_code(code) {
                return Err(error(format!(
                    "{code:?} is not a 6-digit code with a province prefix"
                )));
            }
            let level = DivisionLevel::parse(level).ok_or_else(|| {
                error(format!(
                    "level {level:?}: expected province, prefecture or county"
                ))
            })?;
            if !level.fits(code) {
                return Err(error(format!("{code} is not the code of a {level:?}")));
            }
            if name.is_empty() {
                return Err(error(format!("{code} has no name")));
            }
            let division = Division {
                name: name.to_string(),
                level,
            };
            if divisions.insert(code.to_string(), division).is_some() {
                return Err(error(format!("{code} appears twice")));
            }
        }
        if let Some((code, _)) = divisions
            .iter()
            .find(|(code, _)| !divisions.contains_key(&format!("{}0000", &code[..2])))
        {
            return Err(DivisionTableError {
                file: "table",
                line: 0,
                message: format!(
                    "{code}: its province {}0000 is not in the table",
                    &code[..2]
                ),
            });
        }

        let mut ended = HashMap::new();
        let rows = match abolished {
            Some(text) => csv_rows(
                "abolished",
                text,
                ["code", "name", "abolished_in", "successor"],
            )?,
            None => Vec::new(),
        };
        for (line, [code, name, year, successor]) in rows {
            let error = |message: String| DivisionTableError {
                file: "abolished",
                line,
                message,
            };
            let (code, name, year, successor) = (
                code.as_str(),
                name.as_str(),
                year.as_str(),
                successor.as_str(),
            );
            if !is_code(code) || !DivisionLevel::County.fits(code) {
                return Err(error(format!("{code:?} is not a county code")));
            }
            if divisions.contains_key(code) {
                return Err(error(format!("{code} is in force in the table")));
            }
            if name.is_empty() {
                return Err(error(format!("{code} has no name")));
            }
            let year = year
                .parse::<u16>()
                .ok()
                .filter(|year| (1949..=9999).contains(year))
                .ok_or_else(|| error(format!("{code}: year {year:?} is not a year")))?;
            let successor = if successor.is_empty() {
                None
            } else {
                let name = divisions
                    .get(successor)
                    .filter(|division| division.level == DivisionLevel::County)
                    .map(|division| division.name.clone())
                    .ok_or_else(|| {
                        error(format!(
                            "{code}: successor {successor:?} is no county in the table"
                        ))
                    })?;
                let successor = CountyCode::parse(successor).map_err(|e| error(e.to_string()))?;
                Some((successor, name))
            };
            let abolition = Abolition {
                name: name.to_string(),
                year,
                successor,
            };
            if ended.insert(code.to_string(), abolition).is_some() {
                return Err(error(format!("{code} appears twice")));
            }
        }
        Ok(Self {
            edition: edition.to_string(),
            divisions,
            abolished: ended,
        })
    }

    /// The edition, e.g. `2026-09`.
    pub fn edition(&self) -> &str {
        &self.edition
    }

    /// The county's name, if `code` is a county of this edition.
    pub fn name(&self, code: &CountyCode) -> Option<&str> {
        self.get(code.as_str(), DivisionLevel::County)
    }

    /// The name of the county whose code is `text` (as stored: six digits), or `None` for text
    /// that is no county of this edition — how a county with no name of its own is named.
    pub fn county_name(&self, text: &str) -> Option<&str> {
        self.get(text.trim(), DivisionLevel::County)
    }

    /// True when `code` (surrounding white space ignored) is a county of this edition.
    pub fn is_county(&self, code: &str) -> bool {
        self.get(code.trim(), DivisionLevel::County).is_some()
    }

    /// The prefecture (code, name) of a county of this edition. `None` for a code that is no
    /// county, and for counties under no prefecture: those of the municipalities (北京, 天津, 上海,
    /// 重庆) and those directly under a province (e.g. 429004 仙桃市).
    pub fn prefecture_of(&self, code: &CountyCode) -> Option<(&str, &str)> {
        self.name(code)?;
        let prefecture = format!("{}00", &code.as_str()[..4]);
        let (code, division) = self.divisions.get_key_value(&prefecture)?;
        (division.level == DivisionLevel::Prefecture)
            .then_some((code.as_str(), division.name.as_str()))
    }

    /// The province's name, e.g. 甘肃省 for 62.
    pub fn province_name(&self, province: ProvinceCode) -> Option<&str> {
        self.get(
            &format!("{}0000", province.as_str()),
            DivisionLevel::Province,
        )
    }

    /// When and how `code` ended, if it is a county code that is no longer in force.
    pub fn abolition(&self, code: &CountyCode) -> Option<&Abolition> {
        self.abolished.get(code.as_str())
    }

    /// How many divisions of `level` the table has.
    pub fn count(&self, level: DivisionLevel) -> usize {
        self.divisions
            .values()
            .filter(|division| division.level == level)
            .count()
    }

    /// Ok when `code` is a county of this edition; else [`DivisionCodeError::NotInEdition`],
    /// with the abolition where the code is known to have ended.
    pub fn check_county(&self, code: &CountyCode) -> Result<(), DivisionCodeError> {
        if self.name(code).is_some() {
            return Ok(());
        }
        Err(DivisionCodeError::NotInEdition {
            code: code.to_string(),
            edition: self.edition.clone(),
            abolished: self.abolition(code).cloned().map(Box::new),
        })
    }

    /// [`CountyCode::parse`], then [`DivisionTable::check_county`].
    pub fn county(&self, input: &str) -> Result<CountyCode, DivisionCodeError> {
        let code = CountyCode::parse(input)?;
        self.check_county(&code)?;
        Ok(code)
    }

    fn get(&self, code: &str, level: DivisionLevel) -> Option<&str> {
        self.divisions
            .get(code)
            .filter(|division| division.level == level)
            .map(|division| division.name.as_str())
    }
}

/// Six ASCII digits with a province prefix.
fn is_code(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) && has_province_prefix(code)
}

/// The records of `text` after a header that must be `header`, each with its line number and
/// exactly `N` fields.
fn csv_rows<const N: usize>(
    file: &'static str,
    text: &str,
    header: [&str; N],
) -> Result<Vec<(u64, [String; N])>, DivisionTableError> {
    let error = |line: u64, message: String| DivisionTableError {
        file,
        line,
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut first = true;
    loop {
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(error(line, e.to_string())),
        }
        let line = record.position().map_or(line, csv::Position::line);
        if record.len() != N {
            return Err(error(
                line,
                format!("{} fields, expected {N}", record.len()),
            ));
        }
        let fields: [String; N] =
            std::array::from_fn(|i| record.get(i).unwrap_or_default().to_string());
        if first {
            first = false;
            if fields != header {
                return Err(error(
                    line,
                    format!("header {fields:?}, expected {header:?}"),
                ));
            }
            continue;
        }
        rows.push((line, fields));
    }
    if first {
        return Err(error(1, format!("empty, expected the header {header:?}")));
    }
    Ok(rows)
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

    fn county(code: &str) -> CountyCode {
        CountyCode::parse(code).unwrap()
    }

    fn province(code: &str) -> ProvinceCode {
        ProvinceCode::parse(code).unwrap()
    }

    #[test]
    fn shipped_table_parses_with_the_counts_of_its_readme() {
        let table =
            DivisionTable::from_csv(SHIPPED_EDITION, SHIPPED_TABLE, Some(SHIPPED_ABOLISHED))
                .unwrap();
        assert_eq!(table.edition(), "2026-09");
        // deploy/divisions/README.md: 34 province, 333 prefecture, 2,847 county; 3,345 abolished.
        assert_eq!(table.count(DivisionLevel::Province), 34);
        assert_eq!(table.count(DivisionLevel::Prefecture), 333);
        assert_eq!(table.count(DivisionLevel::County), 2847);
        assert_eq!(table.abolished.len(), 3345);
        let shipped = DivisionTable::shipped();
        assert_eq!(shipped.edition(), "2026-09");
        assert_eq!(shipped.count(DivisionLevel::County), 2847);
    }

    #[test]
    fn names_prefectures_and_provinces_of_our_counties() {
        let table = DivisionTable::shipped();
        let wudu = county("621202");
        assert_eq!(table.name(&wudu), Some("武都区"));
        assert_eq!(table.prefecture_of(&wudu), Some(("621200", "陇南市")));
        assert_eq!(table.province_name(wudu.province()), Some("甘肃省"));
        assert_eq!(table.check_county(&wudu), Ok(()));

        let cheng = county("621221");
        assert_eq!(table.name(&cheng), Some("成县"));
        assert_eq!(table.prefecture_of(&cheng), Some(("621200", "陇南市")));

        let chengguan = county("620102");
        assert_eq!(table.name(&chengguan), Some("城关区"));
        assert_eq!(table.prefecture_of(&chengguan), Some(("620100", "兰州市")));

        // The municipalities' counties have no prefecture row, nor do counties under a province.
        let chaoyang = county("110105");
        assert_eq!(table.name(&chaoyang), Some("朝阳区"));
        assert_eq!(table.prefecture_of(&chaoyang), None);
        assert_eq!(table.province_name(chaoyang.province()), Some("北京市"));
        assert_eq!(table.name(&county("110101")), Some("东城区"));
        assert_eq!(table.name(&county("429004")), Some("仙桃市"));
        assert_eq!(table.prefecture_of(&county("429004")), None);

        assert_eq!(table.province_name(province("62")), Some("甘肃省"));
        assert_eq!(table.province_name(province("71")), Some("台湾省"));
        assert_eq!(table.province_name(province("82")), Some("澳门特别行政区"));
    }

    #[test]
    fn is_county_only_for_counties_of_the_edition() {
        let table = DivisionTable::shipped();
        assert!(table.is_county("621202"));
        assert!(table.is_county(" 621221 "));
        for code in [
            "621200",
            "620000",
            "629999",
            "110199",
            "62120",
            "",
            "é",
            "６２１２０２",
            "6212021",
        ] {
            assert!(!table.is_county(code), "{code:?}");
        }
    }

    #[test]
    fn refuses_a_code_that_is_no_county_naming_code_and_edition() {
        let table = DivisionTable::shipped();
        for code in ["629999", "110199"] {
            let error = table.check_county(&county(code)).unwrap_err();
            assert_eq!(
                error,
                DivisionCodeError::NotInEdition {
                    code: code.to_string(),
                    edition: "2026-09".to_string(),
                    abolished: None,
                }
            );
            assert_eq!(
                error.to_string(),
                format!("{code} is no county in GB/T 2260 edition 2026-09")
            );
            assert_eq!(table.name(&county(code)), None);
            assert_eq!(table.prefecture_of(&county(code)), None);
        }
        assert!(matches!(
            table.county("621202"),
            Ok(code) if code.as_str() == "621202"
        ));
        assert!(matches!(
            table.county("621200"),
            Err(DivisionCodeError::NotCounty(_))
        ));
        assert!(matches!(
            table.county("110199"),
            Err(DivisionCodeError::NotInEdition { .. })
        ));
    }

    #[test]
    fn refuses_an_abolished_code_with_its_year_and_successor() {
        let table = DivisionTable::shipped();
        let error = table.check_county(&county("622621")).unwrap_err();
        assert_eq!(
            error.to_string(),
            "622621 is no county in GB/T 2260 edition 2026-09: \
             武都县 was abolished in 2004, succeeded by 621202 武都区"
        );
        // The GB 11643 standard's own example county: 潮阳县 → 潮阳市 (1993) → 潮阳区 (2003).
        let chaoyang = table.abolition(&county("440524")).unwrap();
        assert_eq!(chaoyang.name, "潮阳县");
        assert_eq!(chaoyang.year, 1993);
        assert_eq!(
            chaoyang.successor,
            Some((county("440513"), "潮阳区".to_string()))
        );
        assert!(matches!(
            table.check_county(&county("500105")),
            Err(DivisionCodeError::NotInEdition { abolished: Some(a), .. })
                if a.year == 2025 && a.successor.as_ref().map(|s| s.0) == Some(county("500157"))
        ));
    }

    const SMALL: &str = "code,name,level\n620000,甘肃省,province\n621200,陇南市,prefecture\n\
                         621202,武都区,county\n110000,北京市,province\n110105,朝阳区,county\n";

    #[test]
    fn parses_a_custom_table() {
        let table = DivisionTable::from_csv(
            "test",
            SMALL,
            Some(
                "code,name,abolished_in,successor\n622621,武都县,2004,621202\n622699,某县,1990,\n",
            ),
        )
        .unwrap();
        assert_eq!(table.edition(), "test");
        assert_eq!(table.count(DivisionLevel::County), 2);
        assert_eq!(
            table.prefecture_of(&county("621202")),
            Some(("621200", "陇南市"))
        );
        assert_eq!(
            table
                .check_county(&county("622699"))
                .unwrap_err()
                .to_string(),
            "622699 is no county in GB/T 2260 edition test: 某县 was abolished in 1990"
        );
        assert!(DivisionTable::from_csv("test", SMALL, None).is_ok());
    }

    #[test]
    fn malformed_custom_tables_are_errors_with_their_line() {
        let table_errors = [
            ("", 1, "empty"),
            ("code,name\n", 1, "fields"),
            ("code,level,name\n", 1, "header"),
            ("code,name,level\n620000,甘肃省\n", 2, "fields"),
            ("code,name,level\n620000,甘肃省,province,x\n", 2, "fields"),
            ("code,name,level\n62000,甘肃省,province\n", 2, "6-digit"),
            (
                "code,name,level\n990000,某省,province\n",
                2,
                "province prefix",
            ),
            ("code,name,level\n620000,甘肃省,state\n", 2, "level"),
            (
                "code,name,level\n620000,甘肃省,county\n",
                2,
                "not the code of a County",
            ),
            (
                "code,name,level\n620000,甘肃省,province\n621200,,prefecture\n",
                3,
                "no name",
            ),
            (
                "code,name,level\n620000,甘肃省,province\n620000,甘肃,province\n",
                3,
                "twice",
            ),
            (
                "code,name,level\n621202,武都区,county\n",
                0,
                "province 620000",
            ),
            ("code,name,level\n620000,\"甘肃省,province\n", 2, "fields"),
        ];
        for (text, line, needle) in table_errors {
            let error = DivisionTable::from_csv("test", text, None).unwrap_err();
            assert_eq!(
                (error.file, error.line),
                ("table", line),
                "{text:?}: {error}"
            );
            assert!(error.to_string().contains(needle), "{text:?}: {error}");
        }
        let abolished_errors = [
            ("code,name,year,successor\n", 1, "header"),
            (
                "code,name,abolished_in,successor\n622600,某地区,2004,\n",
                2,
                "county code",
            ),
            (
                "code,name,abolished_in,successor\n621202,武都区,2004,\n",
                2,
                "in force",
            ),
            (
                "code,name,abolished_in,successor\n622621,武都县,04,\n",
                2,
                "not a year",
            ),
            (
                "code,name,abolished_in,successor\n622621,武都县,,\n",
                2,
                "not a year",
            ),
            (
                "code,name,abolished_in,successor\n622621,,2004,\n",
                2,
                "no name",
            ),
            (
                "code,name,abolished_in,successor\n622621,武都县,2004,621299\n",
                2,
                "successor",
            ),
            (
                "code,name,abolished_in,successor\n622621,武都县,2004,621200\n",
                2,
                "successor",
            ),
            (
                "code,name,abolished_in,successor\n622621,武都县,2004,\n622621,武都县,2004,\n",
                3,
                "twice",
            ),
        ];
        for (text, line, needle) in abolished_errors {
            let error = DivisionTable::from_csv("test", SMALL, Some(text)).unwrap_err();
            assert_eq!(
                (error.file, error.line),
                ("abolished", line),
                "{text:?}: {error}"
            );
            assert!(error.to_string().contains(needle), "{text:?}: {error}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_is_an_error(text in "(code,name,level\n)?[0-9,a-z\"\n甘]{0,80}") {
            let _ = DivisionTable::from_csv("test", &text, Some(&text));
            let _ = DivisionTable::from_csv("test", SMALL, Some(&text));
        }
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
