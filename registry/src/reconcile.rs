//! `registry reconcile`: the provincial index against a provincial extract, by resident ID,
//! with the gaps counted per county. Reads the index straight from the database (streamed in
//! resident-ID order), audited like a query.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use mpx_proto::reconcile::{Difference, DifferenceWriter, Facts, Reconciler};
use mpx_proto::tabular::{Encoding, Format, Mapping, RowReader};

use crate::store::Store;

pub struct Args {
    pub against: PathBuf,
    pub source: String,
    pub purpose: String,
    pub format: Option<String>,
    /// The workbook sheet, by name or number from 1.
    pub sheet: Option<String>,
    pub encoding: String,
    pub out: Option<PathBuf>,
    pub json: bool,
}

/// Gaps of one county.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct CountyGaps {
    pub only_index: u64,
    pub only_extract: u64,
    pub mismatched: u64,
}

pub async fn run(store: &Store, args: &Args) -> anyhow::Result<()> {
    let purpose = args.purpose.trim();
    if purpose.is_empty() {
        anyhow::bail!("--purpose: say why the index is compared (it is recorded in the audit log)");
    }
    let started = Instant::now();
    let format = match &args.format {
        Some(text) => Format::parse(text).map_err(|e| anyhow::anyhow!("--format {e}"))?,
        None => Format::from_path(&args.against),
    };
    let encoding =
        Encoding::parse(&args.encoding).map_err(|e| anyhow::anyhow!("--encoding {e}"))?;
    let reader = RowReader::open_sheet(
        &args.against,
        format,
        encoding,
        Mapping::default(),
        args.sheet.as_deref(),
    )?;
    let against_format = reader.format;
    let (mut reconciler, _unreadable) =
        tokio::task::spawn_blocking(move || Reconciler::load(reader))
            .await
            .context("reading the extract")?;
    let (mut writer, out_path) =
        DifferenceWriter::beside(&args.against, against_format, args.out.as_deref())?;
    let mut per_county: BTreeMap<String, CountyGaps> = BTreeMap::new();
    let mut mismatched_seen: Option<String> = None;
    let mut write_error = None;
    let mut record = |d: Difference| {
        let gaps = per_county.entry(d.county.clone()).or_default();
        match d.kind {
            "only_ours" => gaps.only_index += 1,
            "only_theirs" => gaps.only_extract += 1,
            _ => {
                if mismatched_seen.as_deref() != Some(d.resident_id.as_str()) {
                    gaps.mismatched += 1;
                    mismatched_seen = Some(d.resident_id.clone());
                }
            }
        }
        if let Err(error) = writer.write(&d) {
            write_error.get_or_insert(error);
        }
    };
    let rows = store
        .each_residing_index_entry(|resident_id, name, hukou, residence| {
            let facts = Facts {
                name: name.to_string(),
                hukou_county: hukou.to_string(),
                residence_county: residence.to_string(),
                birth_date: String::new(),
            };
            reconciler.ours(resident_id, &facts, &mut record);
        })
        .await?;
    let summary = reconciler.finish(&mut record);
    if let Some(error) = write_error {
        return Err(error).with_context(|| format!("writing {}", out_path.display()));
    }
    writer.finish()?;
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    store
        .audit(
            &format!("cli:{user}"),
            "reconcile",
            purpose,
            &format!("{} extract {}", args.source, args.against.display()),
            usize::try_from(rows).unwrap_or(usize::MAX),
        )
        .await?;
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "source": args.source, "summary": summary, "counties": per_county,
                "differences_file": out_path.display().to_string(), "seconds": seconds,
            })
        );
        return Ok(());
    }
    println!(
        "省级数据比对 Provincial reconciliation with {} ({}): index {} people, extract {}; matched {}, only in index {}, only in extract {}, mismatched {}",
        args.source,
        args.against.display(),
        summary.ours,
        summary.theirs,
        summary.matched,
        summary.only_ours,
        summary.only_theirs,
        summary.mismatched_people
    );
    println!();
    println!(
        "{:<8}  {:>12}  {:>12}  {:>12}",
        "COUNTY", "ONLY INDEX", "ONLY EXTRACT", "MISMATCHED"
    );
    for (county, gaps) in &per_county {
        let county = if county.is_empty() {
            "-"
        } else {
            county.as_str()
        };
        println!(
            "{county:<8}  {:>12}  {:>12}  {:>12}",
            gaps.only_index, gaps.only_extract, gaps.mismatched
        );
    }
    println!("Differences: {}  ({seconds:.1} s)", out_path.display());
    Ok(())
}
