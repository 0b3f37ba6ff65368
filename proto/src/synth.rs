//! Synthetic rosters for tests, benchmarks and demos: realistic people with valid resident IDs
//! (GB 11643 check characters), chosen error rates, and department extracts with planted
//! differences. Deterministic for a seed. Never real personal data: names are drawn from common
//! characters and IDs from a counter.

use std::io::Write;

use jiff::civil::Date;

use crate::v1::{Person, Sex};

/// A small deterministic generator (SplitMix64): the same seed gives the same roster.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 <= p && p > 0.0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "秀", "英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
    "涛", "明", "超", "霞", "平", "刚", "桂", "兰", "华", "玉", "建", "国", "志", "文", "海", "云",
];
const PLACES: &[&str] = &[
    "城关镇",
    "东江镇",
    "安化镇",
    "汉王镇",
    "角弓镇",
    "马街镇",
    "韩集镇",
    "土桥镇",
];
const STREETS: &[&str] = &[
    "人民路",
    "解放路",
    "建设街",
    "东大街",
    "新华路",
    "滨河路",
    "育才巷",
];

/// The resident ID of someone born on `birth` with registration code `county` and sequence
/// `seq` (0–999; odd is male), with its check character.
pub fn resident_id(county: &str, birth: Date, seq: u16) -> String {
    let first17 = format!(
        "{county}{:04}{:02}{:02}{:03}",
        birth.year(),
        birth.month(),
        birth.day(),
        seq % 1000
    );
    let check = crate::resident_id::check_character(first17.as_bytes());
    format!("{first17}{check}")
}

/// What is wrong with a generated row on purpose, and the field its reject reason names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    BadCheckDigit,
    MissingName,
    UnknownHukou,
    FutureArrival,
    UnreadableDate,
    BadPhone,
    /// The same resident ID as an earlier row.
    Duplicate,
}

impl Defect {
    pub const ALL: [Defect; 7] = [
        Defect::BadCheckDigit,
        Defect::MissingName,
        Defect::UnknownHukou,
        Defect::FutureArrival,
        Defect::UnreadableDate,
        Defect::BadPhone,
        Defect::Duplicate,
    ];

    /// Text the reject reason must contain.
    pub fn reason_mentions(self) -> &'static str {
        match self {
            Defect::BadCheckDigit => "resident_id",
            Defect::MissingName => "name",
            Defect::UnknownHukou => "hukou_county",
            Defect::FutureArrival => "arrival_date",
            Defect::UnreadableDate => "arrival_date",
            Defect::BadPhone => "phone",
            Defect::Duplicate => "duplicate",
        }
    }
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct RosterSpec {
    pub rows: u64,
    /// The county whose roster this is (everyone lives there).
    pub residence_county: String,
    /// Hukou counties, drawn uniformly (include the residence county for local people).
    pub hukou_counties: Vec<String>,
    /// Probability that a row carries a defect (spread evenly over [`Defect::ALL`]).
    pub defect_rate: f64,
    pub seed: u64,
    /// Latest arrival date (defaults to a fixed day so files are reproducible).
    pub today: Date,
}

impl RosterSpec {
    pub fn new(rows: u64, residence_county: &str, hukou_counties: &[&str]) -> Self {
        Self {
            rows,
            residence_county: residence_county.to_string(),
            hukou_counties: hukou_counties.iter().map(|c| c.to_string()).collect(),
            defect_rate: 0.0,
            seed: 1,
            today: Date::constant(2026, 11, 1),
        }
    }
}

/// One generated row and what is wrong with it, if anything.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedRow {
    pub person: Person,
    pub defect: Option<Defect>,
    /// The arrival date as written to the file (may be unreadable on purpose).
    pub arrival_text: String,
}

/// The `i`th person of a roster: IDs are unique for `i` below 20 million.
fn clean_person(spec: &RosterSpec, rng: &mut Rng, index: u64) -> Person {
    let hukou = rng.pick(&spec.hukou_counties).clone();
    let birth = Date::constant(1960, 1, 1)
        .checked_add(jiff::Span::new().days(i64::try_from(index / 1000).unwrap_or(0)))
        .unwrap_or(Date::constant(1960, 1, 1));
    let seq = (index % 1000) as u16;
    let id = resident_id(&hukou, birth, seq);
    let given_len = 1 + rng.below(2);
    let mut name = rng.pick(SURNAMES).to_string();
    for _ in 0..given_len {
        let given: &&str = rng.pick(GIVEN);
        name.push_str(given);
    }
    let arrival = spec
        .today
        .checked_sub(jiff::Span::new().days(1 + rng.below(3000) as i64))
        .unwrap_or(spec.today)
        .max(birth);
    Person {
        resident_id: id,
        name,
        sex: if seq % 2 == 1 { Sex::Male } else { Sex::Female } as i32,
        birth_date: birth.to_string(),
        hukou_county: hukou,
        residence_county: spec.residence_county.clone(),
        residence_address: format!(
            "{}{}{}号",
            rng.pick(PLACES),
            rng.pick(STREETS),
            1 + rng.below(300)
        ),
        arrival_date: arrival.to_string(),
        phone: format!("1{}{:09}", 3 + rng.below(7), rng.below(1_000_000_000)),
        ..Default::default()
    }
}

/// A roster, row by row.
pub fn roster(spec: &RosterSpec) -> impl Iterator<Item = GeneratedRow> + '_ {
    let mut rng = Rng::new(spec.seed);
    // The last clean person: a duplicate row repeats their ID, sex and birth date.
    let mut previous: Option<Person> = None;
    (0..spec.rows).map(move |index| {
        let mut person = clean_person(spec, &mut rng, index);
        let mut defect = None;
        if rng.chance(spec.defect_rate) {
            defect = Some(*rng.pick(&Defect::ALL));
        }
        if defect == Some(Defect::Duplicate) && previous.is_none() {
            defect = None;
        }
        let mut arrival_text = person.arrival_date.clone();
        match defect {
            Some(Defect::BadCheckDigit) => {
                let last = person.resident_id.pop().unwrap_or('0');
                person.resident_id.push(if last == '1' { '2' } else { '1' });
            }
            Some(Defect::MissingName) => person.name.clear(),
            Some(Defect::UnknownHukou) => person.hukou_county = "990101".into(),
            Some(Defect::FutureArrival) => {
                person.arrival_date = "2099-01-01".into();
                arrival_text = person.arrival_date.clone();
            }
            Some(Defect::UnreadableDate) => arrival_text = "2026-13-45".into(),
            Some(Defect::BadPhone) => person.phone = "call me".into(),
            Some(Defect::Duplicate) => {
                if let Some(earlier) = &previous {
                    person.resident_id = earlier.resident_id.clone();
                    person.sex = earlier.sex;
                    person.birth_date = earlier.birth_date.clone();
                    person.hukou_county = earlier.hukou_county.clone();
                    person.arrival_date =
                        person.arrival_date.clone().max(earlier.birth_date.clone());
                    arrival_text = person.arrival_date.clone();
                }
            }
            None => {}
        }
        if defect.is_none() {
            previous = Some(person.clone());
        }
        GeneratedRow {
            person,
            defect,
            arrival_text,
        }
    })
}

/// The CSV header (Chinese, as county spreadsheets have it).
pub const CSV_HEADER: [&str; 9] = [
    "公民身份号码",
    "姓名",
    "性别",
    "出生日期",
    "户籍地代码",
    "现居住地代码",
    "现居住地址",
    "来本地日期",
    "联系电话",
];

impl GeneratedRow {
    /// The row's cells in the order of [`CSV_HEADER`], as a clerk's file holds them.
    pub fn cells(&self) -> [&str; 9] {
        let p = &self.person;
        let sex = if p.sex == Sex::Male as i32 {
            "男"
        } else {
            "女"
        };
        [
            p.resident_id.as_str(),
            p.name.as_str(),
            sex,
            p.birth_date.as_str(),
            p.hukou_county.as_str(),
            p.residence_county.as_str(),
            p.residence_address.as_str(),
            self.arrival_text.as_str(),
            p.phone.as_str(),
        ]
    }
}

/// Writes rows as CSV with Chinese headers, in UTF-8 or GB18030.
pub fn write_csv<W: Write>(
    rows: impl Iterator<Item = GeneratedRow>,
    out: W,
    encoding: crate::tabular::Encoding,
) -> std::io::Result<u64> {
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    let new_buffer = || csv::Writer::from_writer(Vec::with_capacity(1 << 17));
    let mut buffer = new_buffer();
    buffer
        .write_record(CSV_HEADER)
        .map_err(std::io::Error::other)?;
    let mut written = 0;
    // Whole records are encoded at once, so a character is never split between chunks.
    let flush = |buffer: csv::Writer<Vec<u8>>, out: &mut dyn Write| -> std::io::Result<()> {
        let bytes = buffer
            .into_inner()
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        match encoding {
            crate::tabular::Encoding::Utf8 => out.write_all(&bytes),
            crate::tabular::Encoding::Gb18030 => {
                let text = String::from_utf8_lossy(&bytes);
                let (encoded, _, _) = encoding_rs::GB18030.encode(&text);
                out.write_all(&encoded)
            }
        }
    };
    for row in rows {
        buffer
            .write_record(row.cells())
            .map_err(std::io::Error::other)?;
        written += 1;
        if buffer.get_ref().len() > 1 << 16 {
            flush(std::mem::replace(&mut buffer, new_buffer()), &mut out)?;
        }
    }
    flush(buffer, &mut out)?;
    out.flush()?;
    Ok(written)
}

/// Writes generated rows as an .xlsx workbook the way Excel and WPS save a clerk's roster: a
/// title row above the same Chinese header as [`write_csv`], IDs and codes as text in a shared
/// string table, dates that are dates as date cells (a planted bad date stays the text it is).
/// Used by the benchmarks and `mpx-datagen --format xlsx`; one row is held in memory at a time,
/// the shared strings until the end (rust_xlsxwriter's low-memory mode).
pub fn write_xlsx(
    rows: impl Iterator<Item = GeneratedRow>,
    path: &std::path::Path,
) -> Result<u64, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let mut workbook = Workbook::new();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        workbook.set_tempdir(parent)?;
    }
    let text = Format::new().set_num_format("@");
    let date = Format::new().set_num_format("yyyy/m/d");
    let sheet = workbook.add_worksheet_with_low_memory()?;
    sheet.set_name("花名册")?;
    sheet.write_string(0, 0, "流动人口花名册（生成的测试数据）")?;
    for (column, title) in CSV_HEADER.iter().enumerate() {
        sheet.write_string(1, column as u16, *title)?;
    }
    let date_of = |text: &str| -> Option<ExcelDateTime> {
        let day: jiff::civil::Date = text.parse().ok()?;
        ExcelDateTime::from_ymd(
            u16::try_from(day.year()).ok()?,
            u8::try_from(day.month()).ok()?,
            u8::try_from(day.day()).ok()?,
        )
        .ok()
    };
    let mut written = 0u64;
    for (index, row) in rows.enumerate() {
        let line = u32::try_from(index + 2)
            .map_err(|_| rust_xlsxwriter::XlsxError::RowColumnLimitError)?;
        for (column, value) in row.cells().into_iter().enumerate() {
            let column = column as u16;
            match (column, date_of(value)) {
                (3 | 7, Some(day)) => {
                    sheet.write_datetime_with_format(line, column, &day, &date)?;
                }
                _ if value.is_empty() => {}
                _ => {
                    sheet.write_string_with_format(line, column, value, &text)?;
                }
            }
        }
        written += 1;
    }
    workbook.save(path)?;
    Ok(written)
}

/// Differences planted in a department's extract of a roster.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Planted {
    /// Resident IDs left out of the extract.
    pub only_ours: Vec<String>,
    /// Resident IDs only in the extract.
    pub only_theirs: Vec<String>,
    /// (resident ID, field) changed in the extract.
    pub mismatches: Vec<(String, &'static str)>,
}

/// Another department's extract of the (defect-free) roster `spec`: every `1/every`th person is
/// left out, changed (name, hukou county or birth date in turn) or joined by a person only the
/// department knows. Returns the extract's rows and what was planted.
pub fn department_extract(spec: &RosterSpec, every: u64) -> (Vec<GeneratedRow>, Planted) {
    let mut planted = Planted::default();
    let mut rows = Vec::new();
    let extra_spec = RosterSpec {
        seed: spec.seed ^ 0x5eed,
        ..spec.clone()
    };
    let mut extra_rng = Rng::new(extra_spec.seed);
    let every = every.max(4);
    for (index, row) in roster(spec).enumerate() {
        let index = index as u64;
        if row.defect.is_some() {
            continue;
        }
        let mut row = row;
        match (index % every, (index / every) % 3) {
            (0, _) => {
                planted.only_ours.push(row.person.resident_id.clone());
                continue;
            }
            (1, 0) => {
                row.person.name.push('某');
                planted
                    .mismatches
                    .push((row.person.resident_id.clone(), "name"));
            }
            (1, 1) => {
                let other = spec
                    .hukou_counties
                    .iter()
                    .find(|c| **c != row.person.hukou_county)
                    .cloned()
                    .unwrap_or_else(|| "620102".into());
                row.person.hukou_county = other;
                planted
                    .mismatches
                    .push((row.person.resident_id.clone(), "hukou_county"));
            }
            (1, _) => {
                let birth = crate::time::parse_date(&row.person.birth_date)
                    .ok()
                    .and_then(|d| d.tomorrow().ok())
                    .map(|d| d.to_string())
                    .unwrap_or_default();
                row.person.birth_date = birth;
                planted
                    .mismatches
                    .push((row.person.resident_id.clone(), "birth_date"));
            }
            (2, _) => {
                // Someone the department has and the county does not: past the roster's range.
                let mut extra = clean_person(&extra_spec, &mut extra_rng, spec.rows + index);
                extra.residence_county = spec.residence_county.clone();
                planted.only_theirs.push(extra.resident_id.clone());
                rows.push(GeneratedRow {
                    arrival_text: extra.arrival_date.clone(),
                    person: extra,
                    defect: None,
                });
            }
            _ => {}
        }
        rows.push(row);
    }
    (rows, planted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resident_id::{CheckDigitMode, ResidentId};

    #[test]
    fn clean_rows_have_valid_unique_ids_and_defects_are_what_they_say() {
        let mut spec = RosterSpec::new(5000, "621202", &["621202", "621221", "620102"]);
        spec.defect_rate = 0.1;
        let rows: Vec<_> = roster(&spec).collect();
        let mut seen = std::collections::HashSet::new();
        let mut defects = 0;
        for row in &rows {
            let parsed = ResidentId::parse_with(&row.person.resident_id, CheckDigitMode::Strict);
            match row.defect {
                None | Some(Defect::MissingName) | Some(Defect::UnknownHukou) => {
                    assert!(parsed.is_ok(), "{row:?}");
                    assert!(seen.insert(row.person.resident_id.clone()), "unique IDs");
                }
                Some(Defect::BadCheckDigit) => assert!(parsed.is_err()),
                Some(Defect::Duplicate) => assert!(seen.contains(&row.person.resident_id)),
                _ => {}
            }
            defects += usize::from(row.defect.is_some());
        }
        assert!((300..700).contains(&defects), "about 10 %: {defects}");
        let again: Vec<_> = roster(&spec).collect();
        assert_eq!(rows, again, "deterministic");
    }

    #[test]
    fn planted_differences_are_reported_exactly() {
        let spec = RosterSpec::new(100, "621202", &["621202", "621221"]);
        let (extract, planted) = department_extract(&spec, 10);
        assert_eq!(planted.only_ours.len(), 10);
        assert_eq!(planted.only_theirs.len(), 10);
        assert_eq!(planted.mismatches.len(), 10);
        assert_eq!(extract.len(), 100);
    }
}
