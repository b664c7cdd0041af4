//! `kairos simulate`: the whole system on a simulated shop, on a virtual clock, with a report.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use kairos::delivery::caps::Caps;
use kairos::findings::has_errors;
use kairos::sim::run::{Config, Progress, adapt};
use kairos::sim::{Recording, Streamed, check, import, simulate};
use kairos::store::dynamo::DynamoStore;
use kairos::store::embedded::EmbeddedStore;

#[derive(clap::Args)]
pub struct SimulateArgs {
    /// Customers of the simulated shop.
    #[arg(long, default_value_t = 2_000)]
    customers: usize,
    /// Days of the window in which campaigns run (after a history without them).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=365))]
    days: u32,
    /// The seed: the same seed, the same shop and the same run.
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Where the files go.
    #[arg(long, default_value = "kairos-sim")]
    out: PathBuf,
    /// The window's first day (default 2026-10-19: the window spans Europe's and America's
    /// autumn clock changes).
    #[arg(long)]
    start: Option<NaiveDate>,
    /// Days of shop history before the window (what the models first learn from).
    #[arg(long, default_value_t = 180, value_parser = clap::value_parser!(u32).range(0..=730))]
    history_days: u32,
    /// Products in the catalogue.
    #[arg(long, default_value_t = 600)]
    products: usize,
    /// The campaign files that run (active ones; broadcasts are moved into the window).
    #[arg(long, default_value = "campaigns")]
    campaigns: PathBuf,
    /// The loyalty program in force.
    #[arg(long, default_value = "loyalty/program.yaml")]
    program: PathBuf,
    /// Replay this shop's own events (JSON lines in the schema) instead of a synthetic history;
    /// only the customers' answers to messages are simulated.
    #[arg(long, conflicts_with = "transactions")]
    from_events: Option<PathBuf>,
    /// Replay these transactions (`customer_id,date,amount`) as orders.
    #[arg(long)]
    transactions: Option<PathBuf>,
    /// Run against this DynamoDB table (the standard AWS environment) instead of the embedded
    /// store.
    #[arg(long)]
    dynamodb_table: Option<String>,
    /// Threads for the nightly runs and dispatch.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

fn bar(p: Progress) {
    let width = 30;
    let done = (p.hour as usize * width) / p.hours.max(1) as usize;
    let mut err = std::io::stderr();
    let _ = write!(
        err,
        "\r[{}{}] day {:>3}/{}  {:>9} events  {:>7} messages",
        "#".repeat(done),
        ".".repeat(width - done),
        (p.hour + 23) / 24,
        p.hours / 24,
        p.events,
        p.messages
    );
    let _ = err.flush();
}

pub fn run(args: SimulateArgs) -> Result<ExitCode, String> {
    let (campaigns, problems) =
        kairos::campaign::load::read_dir(&args.campaigns).map_err(|e| format!("{}: {e}", args.campaigns.display()))?;
    if has_errors(&problems) {
        for p in &problems {
            eprintln!("{p}");
        }
        return Err(format!("the campaigns in {} do not validate", args.campaigns.display()));
    }
    let program = match std::fs::read_to_string(&args.program) {
        Ok(text) => {
            let (program, problems) = kairos::loyalty::program::read(&args.program.display().to_string(), &text);
            if has_errors(&problems) {
                return Err(format!("{} does not validate: {}", args.program.display(), problems[0]));
            }
            program
        }
        Err(e) => return Err(format!("{}: {e}", args.program.display())),
    };
    let imported = match (&args.from_events, &args.transactions) {
        (Some(path), _) => {
            Some(import::events_jsonl(&std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?)?)
        }
        (_, Some(path)) => Some(import::transactions_csv(
            &std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?,
        )?),
        _ => None,
    };
    let mut config = Config {
        customers: args.customers.max(1),
        days: args.days,
        seed: args.seed,
        history_days: args.history_days,
        products: args.products.max(8),
        program,
        out: args.out.clone(),
        workers: args.workers.max(1),
        ..Config::default()
    };
    if let Some(day) = args.start {
        config.start = day.and_hms_opt(0, 0, 0).map_or(config.start, |t| t.and_utc());
    }
    if let Some(events) = &imported {
        // The window is the history itself.
        let times: Vec<DateTime<Utc>> = events
            .iter()
            .filter_map(|e| {
                e.get("occurred_at").and_then(|t| t.as_str()).and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            })
            .map(|t| t.with_timezone(&Utc))
            .collect();
        let (Some(first), Some(last)) = (times.iter().min(), times.iter().max()) else {
            return Err("the imported history has no events".into());
        };
        config.start = first.date_naive().and_hms_opt(0, 0, 0).map_or(*first, |t| t.and_utc());
        config.days = ((*last - config.start).num_days() + 2).clamp(1, 3660) as u32;
        config.history_days = 0;
    }
    config.campaigns = adapt(campaigns, config.start, config.days);
    config.imported = imported;
    let windows: BTreeMap<String, (chrono::NaiveTime, chrono::NaiveTime)> = config
        .campaigns
        .iter()
        .filter_map(|c| {
            let q = c.quiet_hours.as_ref()?;
            let t = |s: &str| chrono::NaiveTime::parse_from_str(s, "%H:%M").ok();
            Some((c.id.to_string(), (t(&q.send_from)?, t(&q.send_until)?)))
        })
        .collect();
    let quiet = args.quiet;
    let mut progress = |p: Progress| {
        if !quiet && (p.hour % 6 == 0 || p.hour == p.hours) {
            bar(p);
        }
    };
    let started = std::time::Instant::now();
    let outcome = match &args.dynamodb_table {
        Some(table) => {
            let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
            let client = runtime.block_on(async { aws_sdk_dynamodb::Client::new(&kairos::config::aws().await) });
            let store = Arc::new(Recording::new(DynamoStore::new(client, table), kairos::campaign::triggers::relevant));
            run_on(store, config, &mut progress)?
        }
        None => {
            run_on(Arc::new(EmbeddedStore::with_stream(kairos::campaign::triggers::relevant)), config, &mut progress)?
        }
    };
    if !quiet {
        eprintln!();
    }
    let s = &outcome.summary;
    let checks = check::check(&args.out, &Caps::default(), &windows)?;
    let mut out = String::new();
    out.push_str(&format!(
        "Simulated {} customers over {} days (seed {}) in {:.1} s.\n",
        s.customers,
        s.days,
        s.seed,
        started.elapsed().as_secs_f64()
    ));
    out.push_str(&format!(
        "  events: {} produced, {} applied, {} rejected; orders {} ({} attributed to a message)\n",
        s.events.get("produced").unwrap_or(&0),
        s.events.get("applied").unwrap_or(&0),
        s.events.get("rejected").unwrap_or(&0),
        s.events.get("orders").unwrap_or(&0),
        s.events.get("orders attributed to a message").unwrap_or(&0)
    ));
    let d = &s.decisions;
    out.push_str(&format!(
        "  messages: {} (email {}, sms {}, push {}); decisions: {} sent, {} deferred, {} suppressed, {} exited, {} dropped\n",
        s.messages.values().sum::<usize>(),
        s.messages.get("email").unwrap_or(&0),
        s.messages.get("sms").unwrap_or(&0),
        s.messages.get("push").unwrap_or(&0),
        d.sent,
        d.deferred,
        d.suppressed,
        d.exited,
        d.dropped
    ));
    if let Some((lift, lo, hi)) = s.send_time_lift {
        out.push_str(&format!(
            "  send time: optimised sends {:+.1}% more likely to be seen than when first due (95% {:+.1}% to {:+.1}%)\n",
            100.0 * lift,
            100.0 * lo,
            100.0 * hi
        ));
    }
    for l in &s.lifts {
        out.push_str(&format!(
            "  {}: {:.1}% converted vs {:.1}% in the holdout of {} customers ({:+.1} points, 95% {:+.1} to {:+.1})\n",
            l.campaign,
            100.0 * l.treated.rate,
            100.0 * l.holdout.rate,
            l.holdout_customers,
            100.0 * l.difference,
            100.0 * l.low,
            100.0 * l.high
        ));
    }
    out.push_str(&format!(
        "  unsubscribes {}, SMS stops {}; loyalty: {} points earned, {} redemptions\n",
        s.events.get("unsubscribes").unwrap_or(&0),
        s.events.get("sms stops").unwrap_or(&0),
        s.loyalty.get("earned").unwrap_or(&0),
        s.loyalty.get("redemptions").unwrap_or(&0)
    ));
    let flagged: Vec<String> =
        s.fairness.iter().filter_map(|g| Some(format!("{} {}: {}", g.dimension, g.group, g.flag.as_ref()?))).collect();
    out.push_str(&format!(
        "  fairness: {} flagged group(s){}\n",
        flagged.len(),
        if flagged.is_empty() { String::new() } else { format!(" — {}", flagged.join("; ")) }
    ));
    out.push_str(&format!(
        "  checks from the files: {} messages, {} events, {} accounts; {} violation(s)\n",
        checks.messages,
        checks.events,
        checks.accounts,
        checks.violations.len()
    ));
    for v in checks.violations.iter().take(20) {
        out.push_str(&format!("    {v}\n"));
    }
    for f in &outcome.files {
        out.push_str(&format!("  {}\n", f.display()));
    }
    crate::print::out(out.trim_end().to_string());
    Ok(if checks.violations.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn run_on<S: Streamed + 'static>(
    store: Arc<S>,
    config: Config,
    progress: &mut dyn FnMut(Progress),
) -> Result<kairos::sim::Outcome, String> {
    simulate(store, config, progress).map_err(|e| e.to_string())
}
