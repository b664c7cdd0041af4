//! `kairos sto`: send-time recommendations from an engagement export, and the evaluation.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use kairos::sto::decide::{Policy, Reading};
use kairos::sto::history::{Recommendation, read_history, recommend};
use kairos::sto::sim::{SimConfig, evaluate};
use kairos::sto::window::{QuietHours, Window};

#[derive(Subcommand)]
pub enum StoCommand {
    /// Recommend a send time per customer from an engagement history CSV
    /// (customer_id,timestamp,kind,timezone); writes CSV customer_id,send_at,expected_engagement,reason.
    Recommend(RecommendArgs),
    /// Compare fixed-time, local-time, Kairos and oracle send times on simulated customers.
    Evaluate(EvaluateArgs),
    /// Refit the priors and every customer's send-time model, as the scheduled job does.
    Refit(crate::jobs::RunArgs),
}

#[derive(Args)]
pub struct RecommendArgs {
    #[arg(long)]
    history: PathBuf,
    /// Start of the send window, RFC 3339.
    #[arg(long)]
    window_start: DateTime<chrono::FixedOffset>,
    /// Length of the send window in hours (at most 336).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=336))]
    window_hours: u32,
    /// Customer-local quiet hours, e.g. 21:00-08:00; may be given more than once (all apply).
    #[arg(long)]
    quiet: Vec<QuietHours>,
    /// Share of customers whose time is explored (Thompson sampling) rather than the best estimate.
    #[arg(long, default_value_t = 0.0)]
    explore: f64,
    /// The channel the message goes by: email is read within hours of arriving, SMS and push
    /// the moment they arrive, so their best send hour is later.
    #[arg(long, default_value = "email", value_parser = channel)]
    channel: kairos::contact::Channel,
    /// Where to write the CSV (default: standard output).
    #[arg(long)]
    output: Option<PathBuf>,
}

#[derive(Args)]
pub struct EvaluateArgs {
    #[arg(long, default_value_t = 4000)]
    customers: usize,
    #[arg(long, default_value_t = 6)]
    weeks: u32,
    /// Weeks of history before the evaluation starts.
    #[arg(long, default_value_t = 6)]
    history_weeks: u32,
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Share of Kairos decisions that explore.
    #[arg(long, default_value_t = 0.1)]
    explore: f64,
    /// `sparse`: 1 to 40 signals of history per customer, a third behind privacy proxies, the
    /// clocks changing between history and window.
    #[arg(long, default_value = "standard", value_parser = ["standard", "sparse"])]
    population: String,
}

pub async fn run(command: StoCommand) -> Result<ExitCode, String> {
    match command {
        StoCommand::Refit(args) => refit(args).await,
        StoCommand::Recommend(args) => recommend_cmd(args),
        StoCommand::Evaluate(args) => {
            let policy = Policy::new(args.explore, 0.0)?;
            let config = SimConfig {
                customers: args.customers,
                weeks: args.weeks,
                warmup_weeks: args.history_weeks,
                seed: args.seed,
                policy,
                sparse: args.population == "sparse",
                ..SimConfig::default()
            };
            // Both response models: email read within hours, SMS and push on arrival, each with
            // the channel's reading, and SMS/push once more as if read like email (what one
            // reading for every channel gives).
            let runs = [
                (Reading::WithinHours, Reading::WithinHours),
                (Reading::OnArrival, Reading::OnArrival),
                (Reading::OnArrival, Reading::WithinHours),
            ];
            for (n, (truth, assumed)) in runs.into_iter().enumerate() {
                if n > 0 {
                    println!();
                }
                let policy = Policy { reading: assumed, ..config.policy };
                crate::print::raw(evaluate(&SimConfig { reading: truth, policy, ..config.clone() }));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn channel(text: &str) -> Result<kairos::contact::Channel, String> {
    kairos::contact::Channel::ALL
        .into_iter()
        .find(|c| c.as_str() == text)
        .ok_or_else(|| format!("{text:?} is not a channel (expected email, sms or push)"))
}

fn recommend_cmd(args: RecommendArgs) -> Result<ExitCode, String> {
    let policy = Policy::new(args.explore, 0.0)?.for_channel(args.channel);
    let file =
        std::fs::File::open(&args.history).map_err(|e| format!("cannot read {}: {e}", args.history.display()))?;
    let (rows, errors) = read_history(std::io::BufReader::new(file))?;
    for e in &errors {
        eprintln!("{}: skipped {e}", args.history.display());
    }
    let start = args.window_start.with_timezone(&Utc);
    let window = Window::hours_from(start, args.window_hours).map_err(|e| e.to_string())?;
    let out: Box<dyn std::io::Write> = match &args.output {
        Some(path) => {
            Box::new(std::fs::File::create(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?)
        }
        None => Box::new(std::io::stdout().lock()),
    };
    let mut writer = csv::Writer::from_writer(out);
    let mut unplaced = 0;
    for (customer_id, decision) in recommend(&rows, &window, &args.quiet, &policy) {
        match decision {
            Ok(d) => writer
                .serialize(Recommendation {
                    customer_id,
                    send_at: d.send_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    expected_engagement: format!("{:.4}", d.expected_engagement),
                    reason: d.reason,
                })
                .map_err(crate::print::csv_error)?,
            Err(e) => {
                unplaced += 1;
                eprintln!("{customer_id}: no send time: {e}");
            }
        }
    }
    writer.flush().map_err(|e| {
        crate::print::gone_or_fail(&e);
        e.to_string()
    })?;
    eprintln!("{} rows read, {} skipped; {} customers without a send time", rows.len(), errors.len(), unplaced);
    Ok(ExitCode::SUCCESS)
}

async fn refit(args: crate::jobs::RunArgs) -> Result<ExitCode, String> {
    crate::jobs::run_local(args, kairos::sto::job::SendTimeJob).await
}
