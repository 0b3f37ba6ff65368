//! Fuzz-target bodies: what a file or a peer can feed the primitives of this crate.
//!
//! Each function takes arbitrary bytes, runs them through the real parser and asserts the
//! properties that must hold whatever the input: no panic, a refusal is an error value that says
//! which field and what was expected, and what is accepted is consistent (re-parses to itself).
//! `fuzz/` (cargo-fuzz) calls these under libFuzzer; the corpus replay test (`mpx-tests`,
//! `tests/fuzz_corpus.rs`) runs the committed corpus through the same functions on stable.
//!
//! They panic (assert) when a property fails: that is the finding.

use std::io::Cursor;

use crate::calendar::{CalendarYear, WorkingCalendar};
use crate::division::{CountyCode, ProvinceCode, has_province_prefix};
use crate::identity::PeerIdentity;
use crate::resident_id::{CheckDigitMode, ResidentId, check_character, mask};
use crate::tabular::{
    Encoding, Format, Mapping, RowReader, normalize_date, normalize_resident_id, person_from_row,
};

/// Rows read per input at most (a fuzz input is small; this only bounds the time per run).
const MAX_ROWS: usize = 2_000;

/// A roster file (`records import`, `reconcile`): the first byte picks the format and encoding,
/// the rest is the file.
///
/// - bit 0: CSV (0) or JSON Lines (1);
/// - bits 1–2: encoding sniffed (0, 3), UTF-8 (1), GB18030 (2);
/// - bit 3: a mapping file that names `证件号码` as the resident ID column;
/// - bits 4–7 all set: a workbook (the format as the content says, else xlsx), read with
///   calamine (all four bits, so the text inputs already in the corpus keep their meaning).
pub fn tabular_reader(data: &[u8]) {
    let Some((&selector, file)) = data.split_first() else {
        return;
    };
    let format = if selector & 1 == 0 {
        Format::Csv
    } else {
        Format::JsonLines
    };
    let encoding = match (selector >> 1) & 3 {
        1 => Encoding::Utf8,
        2 => Encoding::Gb18030,
        _ => Encoding::sniff(&file[..file.len().min(1 << 16)]),
    };
    let mut mapping = Mapping::default();
    if selector & 8 != 0 {
        mapping
            .columns
            .insert("resident_id".into(), "证件号码".into());
    }
    let opened = if selector & 0xF0 == 0xF0 {
        let format = match crate::tabular::workbook::classify_container(file) {
            crate::tabular::workbook::Content::Workbook(format) => format,
            _ => Format::Xlsx,
        };
        RowReader::from_workbook(file.to_vec(), format, mapping, None, file.len() as u64)
    } else {
        RowReader::from_reader(
            Box::new(Cursor::new(file.to_vec())),
            format,
            encoding,
            mapping,
        )
    };
    let mut reader = match opened {
        Ok(reader) => reader,
        Err(error) => {
            assert!(!error.to_string().is_empty(), "a file error says why");
            return;
        }
    };
    let mut last_line = 0;
    for row in reader.by_ref().take(MAX_ROWS) {
        match row {
            Ok(row) => {
                assert!(row.line >= 1, "rows are numbered from 1");
                assert!(row.line >= last_line, "line numbers never go back");
                last_line = row.line;
                for field in row.values.keys() {
                    assert!(crate::person::file_fields().any(|known| known.name == *field));
                }
                check_person_from_row(&row);
            }
            Err(error) => {
                assert!(!error.reason.is_empty(), "a row error says why");
                assert!(error.line >= 1, "a row error has a line number");
            }
        }
    }
    assert!(
        reader.bytes_read() <= file.len() as u64,
        "read {} bytes of a {}-byte file",
        reader.bytes_read(),
        file.len()
    );
}

fn check_person_from_row(row: &crate::tabular::SourceRow) {
    match person_from_row(row) {
        Ok(person) => {
            assert!(!person.resident_id.is_empty());
            assert!(!person.resident_id.contains(char::is_whitespace));
            assert_eq!(
                normalize_resident_id(&person.resident_id).as_deref(),
                Ok(person.resident_id.as_str()),
                "a normalised resident ID normalises to itself"
            );
            for date in [
                &person.birth_date,
                &person.arrival_date,
                &person.departure_date,
            ] {
                if !date.is_empty() {
                    assert_eq!(
                        normalize_date(date).as_deref(),
                        Ok(date.as_str()),
                        "a normalised date normalises to itself"
                    );
                }
            }
            // What `records import` does next with the ID.
            resident_id_text(&person.resident_id);
        }
        Err(reason) => assert_names_a_field(&reason),
    }
}

/// A refusal starts with the field it is about: `birth_date: …`.
fn assert_names_a_field(reason: &str) {
    let field = reason.split(':').next().unwrap_or_default();
    assert!(
        crate::person::file_fields().any(|known| known.name == field),
        "the refusal {reason:?} does not start with a field name"
    );
}

/// A citizen ID number as text from a peer, a clerk or a file.
pub fn resident_id(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    resident_id_text(text);
    // As a roster cell: normalised first, as `records import` does.
    if let Ok(normalised) = normalize_resident_id(text) {
        resident_id_text(&normalised);
    }
    let masked = mask(text);
    assert_eq!(
        masked.chars().count(),
        text.chars().count(),
        "mask keeps the length"
    );
}

fn resident_id_text(text: &str) {
    let strict = ResidentId::parse_with(text, CheckDigitMode::Strict);
    let warn = ResidentId::parse_with(text, CheckDigitMode::Warn);
    match (&strict, &warn) {
        (Ok(strict), Ok(warn)) => {
            assert_eq!(strict.id, warn.id);
            assert_eq!(warn.check_digit_mismatch, None);
        }
        (Err(strict), Ok(warn)) => {
            assert!(
                matches!(
                    strict,
                    crate::resident_id::ResidentIdError::CheckDigit { .. }
                ),
                "strict mode refuses only for the check digit, not {strict}"
            );
            assert!(warn.check_digit_mismatch.is_some());
        }
        (Ok(_), Err(warn)) => panic!("warn mode refuses what strict mode accepts: {warn}"),
        (Err(strict), Err(warn)) => {
            assert_eq!(strict, warn, "both modes refuse for the same reason");
            assert!(!strict.to_string().is_empty());
        }
    }
    let Ok(parsed) = warn else {
        return;
    };
    let id = parsed.id.as_str();
    assert_eq!(id.len(), 18, "an ID is 18 characters: {id:?}");
    assert!(id.is_ascii());
    assert!(id[..17].bytes().all(|b| b.is_ascii_digit()));
    assert!(has_province_prefix(parsed.id.address_code()));
    let expected = check_character(&id.as_bytes()[..17]);
    if parsed.check_digit_mismatch.is_none() {
        assert_eq!(id.as_bytes()[17] as char, expected);
    }
    if parsed.upgraded_from_15 {
        assert_eq!(text.trim().chars().count(), 15);
        assert!(parsed.check_digit_mismatch.is_none());
    }
    let birth = parsed.id.birth_date();
    assert!(birth.year() >= 1850 && birth <= crate::time::today_in_province());
    let _ = parsed.id.sex();
    let masked = parsed.id.masked();
    assert_eq!(masked.len(), 18);
    assert!(!masked.contains(&id[6..14]), "the birth date is masked");
    let again = ResidentId::parse_with(id, CheckDigitMode::Warn)
        .unwrap_or_else(|error| panic!("an accepted ID re-parses: {error}"));
    assert_eq!(again.id, parsed.id, "an accepted ID re-parses to itself");
}

/// A county or province code (config, a peer's certificate URI, a roster cell, a request field).
pub fn county_code(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match CountyCode::parse(text) {
        Ok(code) => {
            assert_eq!(code.as_str(), text.trim());
            assert_eq!(CountyCode::parse(code.as_str()), Ok(code));
            assert!(has_province_prefix(code.as_str()));
            assert_eq!(
                ProvinceCode::parse(code.province().as_str()),
                Ok(code.province())
            );
            assert!(!code.as_str().ends_with("00"));
            let uri = PeerIdentity::County(code).uri();
            assert_eq!(
                PeerIdentity::parse_uri(&uri).ok().and_then(|p| p.county()),
                Some(code)
            );
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
    if let Ok(province) = ProvinceCode::parse(text) {
        assert_eq!(province.as_str(), text.trim());
        assert!(has_province_prefix(province.as_str()));
    }
    let _ = has_province_prefix(text);
    // The shipped GB/T 2260 table: a code it accepts is a well-formed county it names; a code it
    // refuses says why.
    let table = crate::division::DivisionTable::shipped();
    match table.county(text) {
        Ok(code) => {
            assert_eq!(CountyCode::parse(text), Ok(code));
            assert!(table.is_county(code.as_str()));
            assert!(table.name(&code).is_some_and(|name| !name.is_empty()));
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
    if let Ok(identity) = PeerIdentity::parse_uri(text) {
        assert_eq!(
            PeerIdentity::parse_uri(&identity.uri()).ok(),
            Some(identity)
        );
    }
}

/// A calendar file (`deploy/calendars/YYYY.toml`), then the deadline arithmetic over it.
pub fn calendar_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let year = match CalendarYear::parse("fuzz.toml", text) {
        Ok(year) => year,
        Err(error) => {
            assert!(error.to_string().starts_with("fuzz.toml: "));
            return;
        }
    };
    for day in year.off.iter().chain(&year.work) {
        assert_eq!(day.year(), year.year, "{day} is listed for {}", year.year);
    }
    assert!(year.off.is_disjoint(&year.work));
    assert!(year.published || (year.off.is_empty() && year.work.is_empty()));
    let calendar = match WorkingCalendar::new(vec![year.clone()]) {
        Ok(calendar) => calendar,
        Err(error) => panic!("one year makes a calendar: {error}"),
    };
    let version = calendar.version();
    assert!(version.contains('@'));
    let Ok(start) = jiff::civil::Date::new(year.year, 1, 1) else {
        return;
    };
    for day in year.off.iter() {
        assert_eq!(
            calendar.is_working_day(*day).value,
            !year.published,
            "a day off is not worked (unless the year is unpublished)"
        );
    }
    for day in year.work.iter() {
        assert!(calendar.is_working_day(*day).value);
    }
    for n in [0u32, 1, 5, 30] {
        let due = calendar.add_working_days(start, n);
        assert!(due.value >= start);
        // A full count unless the calendar ran out of dates (year 9999).
        if due.value.year() < 9999 {
            assert_eq!(
                calendar.working_days_between(start, due.value).value,
                i64::from(n),
                "{n} working days after {start} is {}",
                due.value
            );
            assert_eq!(
                calendar.working_days_between(due.value, start).value,
                -i64::from(n)
            );
        }
    }
}
