//! `kairos ingest` and `kairos validate`: event files through the same code the Lambda runs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use kairos::clock::SystemClock;
use kairos::event::parse_event;
use kairos::ingest::source::{SourceRecord, records};
use kairos::ingest::{IngestConfig, Record, ingest_batch};
use kairos::keys;
use kairos::profile::Profile;
use kairos::store::{Store, decode, scan_all};

use crate::StoreArgs;
use crate::output;

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
    let (mut applied, mut duplicates, mut failures) = (0, 0, Vec::new());
    for chunk in source.chunks(usize::from(args.batch_size)) {
        let batch: Vec<Record> = chunk.iter().map(|r| Record { id: &r.id, body: &r.body }).collect();
        let report = ingest_batch(&store, &SystemClock, &config, &batch).await;
        applied += report.applied;
        duplicates += report.duplicates;
        failures.extend(report.failures);
    }
    args.store.save(&store)?;

    let mut profiles: Vec<Profile> = scan_all(&store, Some(keys::PROFILE))
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(decode::<Profile>)
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    profiles.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
    if args.json {
        println!("{}", serde_json::to_string_pretty(&profiles).map_err(|e| e.to_string())?);
    } else {
        for p in &profiles {
            println!("{}", output::profile_summary(p));
        }
    }
    eprintln!(
        "{} records: {applied} events applied, {duplicates} duplicates ignored, {} rejected; {} profiles",
        source.len(),
        failures.len(),
        profiles.len()
    );
    for f in &failures {
        eprintln!("  rejected {}: {}", f.record_id, f.error);
    }
    Ok(if failures.is_empty() || !args.strict { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

pub fn validate(paths: &[PathBuf]) -> Result<ExitCode, String> {
    let source = read_records(paths)?;
    let now = chrono::Utc::now();
    let mut bad = 0;
    for r in &source {
        if let Err(e) = parse_event(&r.body, now) {
            bad += 1;
            println!("{}: {e}", r.id);
        }
    }
    println!("{} records, {} valid, {bad} invalid", source.len(), source.len() - bad);
    Ok(if bad == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

pub async fn show_profile(customer: &str, store_args: &StoreArgs, json: bool) -> Result<ExitCode, String> {
    let id = kairos::ids::CustomerId::new(customer).map_err(|e| format!("customer id {e}"))?;
    let store = store_args.open().await?;
    let Some(item) = store.get(&keys::profile(&id)).await.map_err(|e| e.to_string())? else {
        eprintln!("no profile for {id}");
        return Ok(ExitCode::from(1));
    };
    let profile: Profile = decode(item).map_err(|e| e.to_string())?;
    // What the nightly jobs wrote beside the profile, if they have run.
    let pk = keys::customer_pk(&id);
    let beside = |sk: &'static str| {
        let store = &store;
        let key = kairos::store::Key::new(pk.clone(), sk);
        async move { store.get(&key).await.map_err(|e| e.to_string()) }
    };
    let send_time = beside(kairos::sto::job::MODEL_SK)
        .await?
        .map(decode::<kairos::sto::job::CustomerModel>)
        .transpose()
        .map_err(|e| e.to_string())?;
    let churn = beside(kairos::churn::job::SCORE_SK)
        .await?
        .map(decode::<kairos::churn::job::CustomerScore>)
        .transpose()
        .map_err(|e| e.to_string())?;
    if json {
        let doc = serde_json::json!({ "profile": profile, "send_time": send_time, "churn": churn });
        println!("{}", serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?);
    } else {
        println!("{}", output::profile_summary(&profile));
        if let Some(m) = &send_time {
            println!("{}", output::send_time_summary(m, profile.time_zone()));
        }
        if let Some(c) = &churn {
            println!("{}", output::churn_summary(c));
        }
    }
    Ok(ExitCode::SUCCESS)
}
