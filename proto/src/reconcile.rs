//! Reconciliation (数据比对) of a roster with another department's extract, by resident ID:
//! who is only in ours, only in theirs, and which fields differ (name, hukou county, residence
//! county, birth date). The extract is held in a compact map (about 100 bytes a person, so a
//! million rows fit well under 300 MB); our side streams through it in any order.

use std::collections::{BTreeMap, HashMap};

use crate::tabular::{Cell, FileError, OutputFormat, RowError, RowReader, SourceRow, TableWriter};

/// What is compared for one person. Empty fields are not compared (not every extract has
/// every column).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    pub name: String,
    pub hukou_county: String,
    pub residence_county: String,
    pub birth_date: String,
}

/// The compact form kept for each row of the extract.
struct Theirs {
    line: u32,
    name: Box<str>,
    hukou: [u8; 6],
    residence: [u8; 6],
    /// YYYYMMDD, 0 when absent.
    birth: u32,
}

fn code6(text: &str) -> [u8; 6] {
    let mut code = [0u8; 6];
    if text.len() == 6 && text.bytes().all(|b| b.is_ascii_digit()) {
        code.copy_from_slice(text.as_bytes());
    }
    code
}

fn code_text(code: &[u8; 6]) -> String {
    if code[0] == 0 {
        String::new()
    } else {
        String::from_utf8_lossy(code).into_owned()
    }
}

fn birth_number(date: &str) -> u32 {
    date.replace('-', "").parse().unwrap_or(0)
}

fn birth_text(number: u32) -> String {
    if number == 0 {
        String::new()
    } else {
        format!(
            "{:04}-{:02}-{:02}",
            number / 10_000,
            number / 100 % 100,
            number % 100
        )
    }
}

fn key(id: &str) -> Option<[u8; 18]> {
    let bytes = id.as_bytes();
    (bytes.len() == 18).then(|| {
        let mut key = [0u8; 18];
        key.copy_from_slice(bytes);
        key
    })
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// `only_ours`, `only_theirs` or `mismatch`.
    pub kind: &'static str,
    pub resident_id: String,
    /// The field for a mismatch; empty otherwise.
    pub field: &'static str,
    pub ours: String,
    pub theirs: String,
    /// The row in their file (0 for only-ours).
    pub their_line: u64,
    /// The residence county: ours for only-ours and mismatches, theirs for only-theirs (for
    /// per-county counts).
    pub county: String,
}

/// The counts of a reconciliation.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    pub ours: u64,
    pub theirs: u64,
    pub matched: u64,
    pub only_ours: u64,
    pub only_theirs: u64,
    /// People with at least one field that differs.
    pub mismatched_people: u64,
    pub mismatches_by_field: BTreeMap<String, u64>,
    /// Rows of their file that could not be read (bad ID, unreadable line).
    pub unreadable_theirs: u64,
    /// Resident IDs that appear twice in their file (the first is kept).
    pub duplicate_theirs: u64,
}

/// Compares our rows, fed one by one, with the loaded extract.
pub struct Reconciler {
    theirs: HashMap<[u8; 18], Theirs>,
    pub summary: Summary,
}

impl Reconciler {
    /// Loads their extract. Rows without a usable resident ID are returned (for a reject file).
    pub fn load(reader: RowReader) -> (Self, Vec<RowError>) {
        let mut theirs = HashMap::new();
        let mut summary = Summary::default();
        let mut unreadable = Vec::new();
        for row in reader {
            let row: SourceRow = match row {
                Ok(row) => row,
                Err(error) => {
                    summary.unreadable_theirs += 1;
                    unreadable.push(error);
                    continue;
                }
            };
            let id = crate::tabular::normalize_resident_id(row.get("resident_id"))
                .ok()
                .and_then(|id| key(&id).map(|k| (id, k)));
            let Some((_, id_key)) = id else {
                summary.unreadable_theirs += 1;
                unreadable.push(RowError {
                    line: row.line,
                    reason: "resident_id: not an 18-character resident ID".into(),
                    raw: row.raw,
                });
                continue;
            };
            let birth = crate::tabular::normalize_date(row.get("birth_date")).unwrap_or_default();
            if theirs.contains_key(&id_key) {
                summary.duplicate_theirs += 1;
                continue;
            }
            summary.theirs += 1;
            theirs.insert(
                id_key,
                Theirs {
                    line: u32::try_from(row.line).unwrap_or(u32::MAX),
                    name: row.get("name").into(),
                    hukou: code6(row.get("hukou_county")),
                    residence: code6(row.get("residence_county")),
                    birth: birth_number(&birth),
                },
            );
        }
        (Self { theirs, summary }, unreadable)
    }

    /// Compares one of our people; the differences go to `out`.
    pub fn ours(&mut self, resident_id: &str, facts: &Facts, out: &mut impl FnMut(Difference)) {
        self.summary.ours += 1;
        let found = key(resident_id).and_then(|k| self.theirs.remove(&k));
        let Some(theirs) = found else {
            self.summary.only_ours += 1;
            out(Difference {
                kind: "only_ours",
                resident_id: resident_id.to_string(),
                field: "",
                ours: facts.name.clone(),
                theirs: String::new(),
                their_line: 0,
                county: facts.residence_county.clone(),
            });
            return;
        };
        let pairs = [
            ("name", facts.name.clone(), theirs.name.to_string()),
            (
                "hukou_county",
                facts.hukou_county.clone(),
                code_text(&theirs.hukou),
            ),
            (
                "residence_county",
                facts.residence_county.clone(),
                code_text(&theirs.residence),
            ),
            (
                "birth_date",
                facts.birth_date.clone(),
                birth_text(theirs.birth),
            ),
        ];
        let mut differs = false;
        for (field, ours, their) in pairs {
            if ours.is_empty() || their.is_empty() || ours == their {
                continue;
            }
            differs = true;
            *self
                .summary
                .mismatches_by_field
                .entry(field.to_string())
                .or_default() += 1;
            out(Difference {
                kind: "mismatch",
                resident_id: resident_id.to_string(),
                field,
                ours,
                theirs: their,
                their_line: u64::from(theirs.line),
                county: facts.residence_county.clone(),
            });
        }
        if differs {
            self.summary.mismatched_people += 1;
        } else {
            self.summary.matched += 1;
        }
    }

    /// Everyone left in their extract is only theirs; returns the final counts.
    pub fn finish(mut self, out: &mut impl FnMut(Difference)) -> Summary {
        let mut rest: Vec<([u8; 18], Theirs)> = self.theirs.drain().collect();
        rest.sort_by_key(|(_, t)| t.line);
        for (id, theirs) in rest {
            self.summary.only_theirs += 1;
            out(Difference {
                kind: "only_theirs",
                resident_id: String::from_utf8_lossy(&id).into_owned(),
                field: "",
                ours: String::new(),
                theirs: theirs.name.to_string(),
                their_line: u64::from(theirs.line),
                county: code_text(&theirs.residence),
            });
        }
        self.summary
    }

    /// The residence county their extract gives for a person still unmatched.
    pub fn their_residence(&self, resident_id: &str) -> Option<String> {
        key(resident_id)
            .and_then(|k| self.theirs.get(&k))
            .map(|t| code_text(&t.residence))
    }
}

impl Difference {
    /// True when the difference is for another county to verify: the extract gives the
    /// person's hukou or residence county as a county other than ours (`this_county`) where our
    /// roster has something else. A reconciliation may open a verification case to that county
    /// for each (`reconcile --open-cases`, the console's option).
    pub fn asks_another_county(&self, this_county: &str) -> bool {
        self.kind == "mismatch"
            && matches!(self.field, "hukou_county" | "residence_county")
            && !self.theirs.is_empty()
            && self.theirs != this_county
    }

    /// The questions of the verification case opened for a difference that
    /// [`asks_another_county`](Self::asks_another_county), naming the department (`source`) whose
    /// extract said so: Chinese, then English.
    pub fn verification_questions(&self, source: &str) -> String {
        let what = if self.field == "hukou_county" {
            "户籍地"
        } else {
            "现居住地"
        };
        format!(
            "{source}提供的数据显示该人员{what}为贵县（{theirs}），本县登记为 {ours}，请核实。\n\
             The {source} extract gives your county ({theirs}) as the person's {field}, ours says {ours}; please verify.",
            theirs = self.theirs,
            ours = self.ours,
            field = self.field.replace('_', " "),
        )
    }
}

/// Writes differences, created 0600: CSV (UTF-8 with a BOM; English codes, for scripts) or a
/// workbook (Chinese headers and words, for the clerk who has to go through them).
pub struct DifferenceWriter {
    table: TableWriter,
    format: OutputFormat,
}

impl DifferenceWriter {
    /// Creates the differences file of a comparison with `against`: `out` when given (a workbook
    /// when it ends in `.xlsx`), else beside the extract as `EXTRACT.differences.csv`, or
    /// `.xlsx` when the extract was a workbook. Returns the writer and the path; an error names
    /// the file.
    pub fn beside(
        against: &std::path::Path,
        against_format: crate::tabular::Format,
        out: Option<&std::path::Path>,
    ) -> Result<(Self, std::path::PathBuf), FileError> {
        let (path, format) = match out {
            Some(path) => (path.to_path_buf(), OutputFormat::from_path(path)),
            None => {
                let format = OutputFormat::answering(against_format);
                (
                    crate::tabular::output::beside(against, "differences", format),
                    format,
                )
            }
        };
        let writer = Self::create(&path, format)?;
        Ok((writer, path))
    }

    pub fn create(path: &std::path::Path, format: OutputFormat) -> Result<Self, FileError> {
        let header = match format {
            OutputFormat::Csv => [
                "kind",
                "resident_id",
                "field",
                "ours",
                "theirs",
                "their_line",
            ],
            OutputFormat::Xlsx => ["差异", "公民身份号码", "字段", "本方", "对方", "对方行号"],
        };
        let table = TableWriter::create(path, format, "比对差异", &header)?;
        Ok(Self { table, format })
    }

    pub fn write(&mut self, difference: &Difference) -> Result<(), FileError> {
        let line = difference.their_line.to_string();
        let (kind, field) = match self.format {
            OutputFormat::Csv => (difference.kind, difference.field),
            OutputFormat::Xlsx => (
                kind_label_zh(difference.kind),
                crate::person::field(difference.field).map_or(difference.field, |f| f.header_zh),
            ),
        };
        self.table.row(&[
            Cell::Text(kind),
            Cell::Text(&difference.resident_id),
            Cell::Text(field),
            Cell::Text(&difference.ours),
            Cell::Text(&difference.theirs),
            // A workbook leaves "their line" blank for a person only we have (CSV keeps its 0).
            Cell::Text(
                if difference.their_line == 0 && self.format == OutputFormat::Xlsx {
                    ""
                } else {
                    &line
                },
            ),
        ])
    }

    pub fn finish(self) -> Result<u64, FileError> {
        self.table.finish()
    }
}

/// A difference's kind in the words of a workbook's reader.
fn kind_label_zh(kind: &str) -> &str {
    match kind {
        "only_ours" => "仅本方有",
        "only_theirs" => "仅对方有",
        "mismatch" => "不一致",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_a_county_difference_naming_another_county_asks_it() {
        let mismatch = |field: &'static str, theirs: &str| Difference {
            kind: "mismatch",
            resident_id: "621202199001011234".into(),
            field,
            ours: "621221".into(),
            theirs: theirs.into(),
            their_line: 2,
            county: "621202".into(),
        };
        assert!(mismatch("hukou_county", "620102").asks_another_county("621202"));
        assert!(!mismatch("hukou_county", "621202").asks_another_county("621202"));
        assert!(!mismatch("name", "620102").asks_another_county("621202"));
        assert!(!mismatch("residence_county", "").asks_another_county("621202"));
        let only_theirs = Difference {
            kind: "only_theirs",
            ..mismatch("", "620102")
        };
        assert!(!only_theirs.asks_another_county("621202"));
        let questions = mismatch("residence_county", "620102").verification_questions("公安");
        assert!(
            questions.starts_with(
                "公安提供的数据显示该人员现居住地为贵县（620102），本县登记为 621221，请核实。\n"
            ) && questions
                .ends_with("as the person's residence county, ours says 621221; please verify."),
            "{questions}"
        );
    }

    use super::*;
    use crate::synth::{RosterSpec, department_extract, roster};
    use crate::tabular::{Encoding, Format, Mapping};

    #[test]
    fn planted_differences_are_found_exactly() {
        let spec = RosterSpec::new(2000, "621202", &["621202", "621221", "620102"]);
        let (extract, planted) = department_extract(&spec, 20);
        let mut bytes = Vec::new();
        crate::synth::write_csv(extract.into_iter(), &mut bytes, Encoding::Gb18030).unwrap();
        let reader = RowReader::from_reader(
            Box::new(std::io::Cursor::new(bytes)),
            Format::Csv,
            Encoding::Gb18030,
            Mapping::default(),
        )
        .unwrap();
        let (mut reconciler, unreadable) = Reconciler::load(reader);
        assert!(unreadable.is_empty());
        let mut found = Vec::new();
        for row in roster(&spec) {
            let p = &row.person;
            let facts = Facts {
                name: p.name.clone(),
                hukou_county: p.hukou_county.clone(),
                residence_county: p.residence_county.clone(),
                birth_date: p.birth_date.clone(),
            };
            reconciler.ours(&p.resident_id, &facts, &mut |d| found.push(d));
        }
        let summary = reconciler.finish(&mut |d| found.push(d));
        let of = |kind: &str| -> Vec<String> {
            let mut ids: Vec<String> = found
                .iter()
                .filter(|d| d.kind == kind)
                .map(|d| d.resident_id.clone())
                .collect();
            ids.sort();
            ids
        };
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        assert_eq!(of("only_ours"), sorted(planted.only_ours.clone()));
        assert_eq!(of("only_theirs"), sorted(planted.only_theirs.clone()));
        let mut mismatches: Vec<(String, &str)> = found
            .iter()
            .filter(|d| d.kind == "mismatch")
            .map(|d| (d.resident_id.clone(), d.field))
            .collect();
        mismatches.sort();
        let mut expected = planted.mismatches.clone();
        expected.sort();
        assert_eq!(mismatches, expected);
        assert_eq!(summary.ours, 2000);
        assert_eq!(
            summary.matched + summary.mismatched_people + summary.only_ours,
            2000
        );
    }
}
