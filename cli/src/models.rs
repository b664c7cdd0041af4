//! `kairos models`: fit and score buy-till-you-die models on exported data.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::NaiveDate;
use clap::{Args, Subcommand, ValueEnum};
use kairos::churn::data::{RowError, Summary, Unit, read_summaries, read_transactions, summarize};
use kairos::churn::fit::Fit;
use kairos::churn::{ModelKind, fit, pipeline};
use serde::Serialize;
use serde_json::json;

#[derive(Subcommand)]
pub enum ModelsCommand {
    /// Fit a model to a summary CSV (customer_id,frequency,recency,T[,monetary_value]) and print
    /// its parameters, log-likelihood and standard errors as JSON.
    Fit {
        #[arg(long)]
        input: PathBuf,
        #[arg(long, value_enum, default_value_t = Model::Bgnbd)]
        model: Model,
    },
    /// Score every customer of a summary CSV: customer_id,p_alive,expected_purchases,expected_spend,clv.
    Score(ScoreArgs),
    /// Score every customer in a store as the nightly churn job does (fit on a stratified sample,
    /// score, flag at-risk valuable customers, queue their win-back sends).
    Rescore(crate::jobs::RunArgs),
    /// Turn transactions (customer_id,date,amount) into the summary CSV the models read.
    Summarize {
        #[arg(long)]
        transactions: PathBuf,
        /// Last day of the calibration period (YYYY-MM-DD); later transactions are left out.
        #[arg(long)]
        calibration_end: String,
        #[arg(long, value_enum, default_value_t = TimeUnit::Week)]
        unit: TimeUnit,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Model {
    Bgnbd,
    ParetoNbd,
    GammaGamma,
}

impl Model {
    fn kind(self) -> ModelKind {
        match self {
            Model::Bgnbd => ModelKind::Bgnbd,
            Model::ParetoNbd => ModelKind::ParetoNbd,
            Model::GammaGamma => ModelKind::GammaGamma,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum TimeUnit {
    Week,
    Day,
}

impl TimeUnit {
    fn unit(self) -> Unit {
        match self {
            TimeUnit::Week => Unit::Week,
            TimeUnit::Day => Unit::Day,
        }
    }
}

#[derive(Args)]
pub struct ScoreArgs {
    #[arg(long)]
    input: PathBuf,
    /// Horizon for expected purchases and CLV, in the input's time unit.
    #[arg(long)]
    horizon: f64,
    /// The purchase-timing model.
    #[arg(long, value_enum, default_value_t = Model::Bgnbd)]
    model: Model,
    /// Discount rate per time unit for CLV (0.0018 per week is about 10% a year).
    #[arg(long, default_value_t = 0.0018)]
    discount_rate: f64,
    /// The input's time unit, for explanations.
    #[arg(long, value_enum, default_value_t = TimeUnit::Week)]
    unit: TimeUnit,
    /// Add a risk band and a one-sentence explanation to each row.
    #[arg(long)]
    explain: bool,
}

fn read(path: &Path) -> Result<Vec<Summary>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let (rows, errors) = read_summaries(std::io::BufReader::new(file))?;
    report(path, &errors);
    Ok(rows)
}

fn report(path: &Path, errors: &[RowError]) {
    for e in errors {
        eprintln!("{}: skipped {e}", path.display());
    }
}

fn fit_json(f: &Fit) -> serde_json::Value {
    let params: BTreeMap<&str, f64> = f.params.iter().copied().collect();
    let errors: Option<BTreeMap<&str, f64>> =
        f.standard_errors.as_ref().map(|se| f.params.iter().map(|(n, _)| *n).zip(se.iter().copied()).collect());
    json!({
        "model": f.model,
        "params": params,
        "log_likelihood": f.log_likelihood,
        "standard_errors": errors,
        "customers": f.customers,
        "iterations": f.iterations,
    })
}

pub async fn run(command: ModelsCommand) -> Result<ExitCode, String> {
    match command {
        ModelsCommand::Rescore(args) => {
            let config = kairos::churn::job::ChurnConfig::from_lookup(|name| std::env::var(name).ok())
                .map_err(|e| e.to_string())?;
            crate::jobs::run_local(args, kairos::churn::job::ChurnJob { config }).await
        }
        ModelsCommand::Fit { input, model } => {
            let rows = read(&input)?;
            let fitted = fit(model.kind(), &rows).map_err(|e| e.to_string())?;
            crate::print::out(serde_json::to_string_pretty(&fit_json(&fitted)).map_err(|e| e.to_string())?);
            Ok(ExitCode::SUCCESS)
        }
        ModelsCommand::Score(args) => score(args),
        ModelsCommand::Summarize { transactions, calibration_end, unit } => {
            let end = kairos::churn::data::parse_day(&calibration_end)
                .ok_or_else(|| format!("--calibration-end {calibration_end:?} is not a date YYYY-MM-DD"))?;
            summarize_cmd(&transactions, end, unit.unit())
        }
    }
}

fn score(args: ScoreArgs) -> Result<ExitCode, String> {
    if !(args.horizon.is_finite() && args.horizon > 0.0) {
        return Err("--horizon must be a positive number of time units".into());
    }
    if !(0.0..1.0).contains(&args.discount_rate) {
        return Err("--discount-rate must be at least 0 and below 1 (per time unit)".into());
    }
    let rows = read(&args.input)?;
    let kind = pipeline::timing_kind(args.model.kind()).map_err(|e| format!("--model: {e}"))?;
    let (timing, timing_fit) = pipeline::fit_timing(kind, rows.iter().map(|s| (s, 1.0))).map_err(|e| e.to_string())?;
    let spend = match pipeline::fit_spend(rows.iter().map(|s| (s, 1.0))) {
        Ok((spend, _)) => Some(spend),
        Err(e) => {
            eprintln!("no spend model, so no expected spend or CLV: {e}");
            None
        }
    };
    eprintln!("{}", fit_json(&timing_fit));
    let valuation =
        pipeline::Valuation { horizon: args.horizon, discount_rate: args.discount_rate, unit: args.unit.unit() };
    let scoring = pipeline::scoring(timing, spend, valuation);
    let mut out = csv::Writer::from_writer(std::io::stdout().lock());
    #[derive(Serialize)]
    struct Row<'a> {
        customer_id: &'a str,
        p_alive: String,
        expected_purchases: String,
        expected_spend: String,
        clv: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        band: Option<&'static str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        explanation: Option<String>,
    }
    let number = |v: Option<f64>| v.map(|v| format!("{v:.4}")).unwrap_or_default();
    for s in &rows {
        let score = scoring.score(s);
        let row = Row {
            customer_id: &s.customer_id,
            p_alive: format!("{:.4}", score.p_alive),
            expected_purchases: format!("{:.4}", score.expected_purchases),
            expected_spend: number(score.expected_spend),
            clv: number(score.clv),
            band: args.explain.then(|| score.band.label()),
            explanation: args.explain.then_some(score.explanation),
        };
        out.serialize(row).map_err(crate::print::csv_error)?;
    }
    out.flush().map_err(|e| {
        crate::print::gone_or_fail(&e);
        e.to_string()
    })?;
    Ok(ExitCode::SUCCESS)
}

fn summarize_cmd(path: &Path, end: NaiveDate, unit: Unit) -> Result<ExitCode, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let (transactions, errors) = read_transactions(std::io::BufReader::new(file))?;
    report(path, &errors);
    let mut out = csv::Writer::from_writer(std::io::stdout().lock());
    out.write_record(["customer_id", "frequency", "recency", "T", "monetary_value"])
        .map_err(crate::print::csv_error)?;
    for s in summarize(&transactions, end, unit) {
        let record = [
            s.customer_id.clone(),
            s.frequency.to_string(),
            format!("{:.4}", s.recency),
            format!("{:.4}", s.age),
            s.monetary_value.map(|m| format!("{m:.4}")).unwrap_or_default(),
        ];
        out.write_record(&record).map_err(crate::print::csv_error)?;
    }
    out.flush().map_err(|e| {
        crate::print::gone_or_fail(&e);
        e.to_string()
    })?;
    Ok(ExitCode::SUCCESS)
}
