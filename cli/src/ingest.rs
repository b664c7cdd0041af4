//! `kairos ingest` and `kairos validate`: event files through the same code the Lambda runs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use kairos::clock::SystemClock;
use kairos::customers::{self, CustomerGroups};
use kairos::event::parse_inbound;
use kairos::ingest::source::{SourceRecord, records};
use kairos::ingest::{IngestConfig, Record, ingest_batch};
use kairos::keys;
use kairos::profile::Profile;
use kairos::store::{Consistency, Key, Segment, Store, StoreError, decode};

use crate::StoreArgs;
use crate::output;
use crate::print::out;

#[derive(Args)]
pub struct IngestArgs {
    /// Files or folders of events (folders are read recursively, *.json and *.jsonl).
    #[arg(default_value = "events")]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    store: StoreArgs,
    /// Records per batch, as SQS would deliver them.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1000))]
    batch_size: u16,
    /// Print full profiles as JSON instead of summaries.
    #[arg(long)]
    json: bool,
    /// Exit with status 1 if any record was rejected (for scripts and backfills).
    #[arg(long)]
    strict: bool,
}

fn event_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        collect(path, true, &mut files).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    }
    files.sort();
    Ok(files)
}

/// Named files are taken as they are (a missing one is reported when read); inside folders,
/// only `*.json` and `*.jsonl`.
fn collect(path: &Path, named: bool, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        for entry in std::fs::read_dir(path)? {
            collect(&entry?.path(), false, files)?;
        }
    } else if named || matches!(path.extension().and_then(|e| e.to_str()), Some("json" | "jsonl")) {
        files.push(path.to_path_buf());
    }
    Ok(())
}

fn read_records(paths: &[PathBuf]) -> Result<Vec<SourceRecord>, String> {
    let mut all = Vec::new();
    for file in event_files(paths)? {
        let text = std::fs::read_to_string(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        all.extend(records(&file.display().to_string(), &text));
    }
    Ok(all)
}

pub async fn run(args: IngestArgs) -> Result<ExitCode, String> {
    let source = read_records(&args.paths)?;
    let store = args.store.open().await?;
    let config = IngestConfig::default();
    let (mut applied, mut duplicates, mut failures, mut rejected) = (0, 0, Vec::new(), Vec::new());
    for chunk in source.chunks(usize::from(args.batch_size)) {
        let batch: Vec<Record> = chunk.iter().map(|r| Record { id: &r.id, body: &r.body }).collect();
        let report = ingest_batch(&store, &SystemClock, &config, &batch).await;
        applied += report.applied;
        duplicates += report.duplicates;
        failures.extend(report.failures);
        rejected.extend(report.rejected);
    }
    args.store.save(&store)?;

    let (profiles, unreadable) = all_profiles(&store).await.map_err(|e| e.to_string())?;
    if args.json {
        out(serde_json::to_string_pretty(&profiles).map_err(|e| e.to_string())?);
    } else {
        for p in &profiles {
            out(output::profile_summary(p));
        }
    }
    eprintln!(
        "{} records: {applied} events applied, {duplicates} duplicates ignored, {} rejected, {} to retry; {} profiles",
        source.len(),
        rejected.len(),
        failures.len(),
        profiles.len()
    );
    for f in &rejected {
        eprintln!("  rejected {}: {}", f.record_id, f.error);
    }
    for f in &failures {
        eprintln!("  not applied (retry later) {}: {}", f.record_id, f.error);
    }
    for e in &unreadable {
        eprintln!("  unreadable profile: {e}");
    }
    let clean = rejected.is_empty() && failures.is_empty();
    Ok(if clean || !args.strict { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Every profile in the store, by customer id; a profile that cannot be read is reported beside
/// them, never a reason to list nothing.
async fn all_profiles<S: Store>(store: &S) -> Result<(Vec<Profile>, Vec<StoreError>), StoreError> {
    let mut groups = CustomerGroups::default();
    let (mut profiles, mut unreadable) = (Vec::new(), Vec::new());
    let mut after: Option<Key> = None;
    loop {
        let page =
            store.scan(Segment::WHOLE, after.as_ref(), 1000, Consistency::Strong, customers::PROFILE_ITEMS).await?;
        unreadable.extend(page.corrupt);
        let mut complete = groups.push(page.items);
        if page.next.is_none() {
            complete.extend(groups.finish());
        }
        for (customer, items) in complete {
            match customers::assemble(&customer, items) {
                Ok(Some(p)) => profiles.push(p),
                Ok(None) => {}
                Err(e) => unreadable.push(e),
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    profiles.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
    Ok((profiles, unreadable))
}

pub fn validate(paths: &[PathBuf]) -> Result<ExitCode, String> {
    let source = read_records(paths)?;
    let now = chrono::Utc::now();
    let mut bad = 0;
    for r in &source {
        if let Err(e) = parse_inbound(&r.body, now) {
            bad += 1;
            out(format!("{}: {e}", r.id));
        }
    }
    out(format!("{} records, {} valid, {bad} invalid", source.len(), source.len() - bad));
    Ok(if bad == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

pub async fn show_profile(customer: &str, store_args: &StoreArgs, json: bool) -> Result<ExitCode, String> {
    let id = kairos::ids::CustomerId::new(customer).map_err(|e| format!("customer id {e}"))?;
    let store = store_args.open().await?;
    let Some(profile) = customers::load(&store, &id).await.map_err(|e| e.to_string())? else {
        eprintln!("no profile for {id}");
        return Ok(ExitCode::from(1));
    };
    // What the nightly jobs wrote beside the profile, if they have run.
    let send_time = match store.get(&keys::send_time_model(&id)).await.map_err(|e| e.to_string())? {
        Some(item) => Some(decode::<kairos::sto::job::CustomerModel>(item).map_err(|e| e.to_string())?),
        None => None,
    };
    let churn = match store.get(&keys::churn_score(&id)).await.map_err(|e| e.to_string())? {
        Some(item) => Some(decode::<kairos::churn::job::CustomerScore>(item).map_err(|e| e.to_string())?),
        None => None,
    };
    if json {
        let doc =
            serde_json::json!({ "profile": output::profile_json(&profile), "send_time": send_time, "churn": churn });
        out(serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?);
    } else {
        out(output::profile_summary(&profile));
        if let Some(m) = &send_time {
            out(output::send_time_summary(m, profile.time_zone()));
        }
        if let Some(c) = &churn {
            out(output::churn_summary(c));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `kairos rejected`: the records parked on a day, with why.
pub async fn show_rejected(
    day: Option<chrono::NaiveDate>,
    store_args: &StoreArgs,
    json: bool,
) -> Result<ExitCode, String> {
    let store = store_args.open().await?;
    let day = day.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let parked = kairos::ingest::rejected::list(&store, day).await.map_err(|e| e.to_string())?;
    if json {
        out(serde_json::to_string_pretty(&parked).map_err(|e| e.to_string())?);
    } else {
        for r in &parked {
            out(format!("{} {}  {}", r.received_at.format("%H:%M:%S"), r.record_id, r.reason));
        }
        eprintln!("{} records rejected on {day}", parked.len());
    }
    Ok(ExitCode::SUCCESS)
}
