//! `kairos`: Kairos on your own machine.
//!
//! Runs on the embedded store by default (no AWS account needed); `--dynamodb-table` points a
//! command at a DynamoDB table instead, using the standard AWS environment (`AWS_REGION`,
//! credentials, and `AWS_ENDPOINT_URL` for a local emulator).

mod campaigns;
mod catalog;
mod delivery;
mod ingest;
mod jobs;
mod loyalty;
mod models;
mod output;
mod print;
mod recs;
mod simulate;
mod sto;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use kairos::store::any::AnyStore;
use kairos::store::dynamo::DynamoStore;
use kairos::store::embedded::EmbeddedStore;

#[derive(Parser)]
#[command(name = "kairos", version, about = "Event-driven marketing orchestration, run locally.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The main job: a simulated shop replayed on a virtual clock through every function, with
    /// the sample campaigns and loyalty program; writes events, messages, decisions, a summary
    /// and an HTML report to --out.
    Simulate(simulate::SimulateArgs),
    /// Ingest shop events from files (JSON, JSON Lines, SQS or EventBridge payloads) and print
    /// the resulting customer profiles.
    Ingest(ingest::IngestArgs),
    /// Show one customer's profile.
    Profile {
        /// The customer id.
        customer: String,
        #[command(flatten)]
        store: StoreArgs,
        /// Print the full profile as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the records ingest rejected and parked on a day (default today, UTC), with why.
    Rejected {
        /// The day, YYYY-MM-DD.
        #[arg(long)]
        day: Option<chrono::NaiveDate>,
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        json: bool,
    },
    /// Check event files against the schema without storing anything.
    Validate {
        /// Files or folders of events.
        #[arg(default_value = "events")]
        paths: Vec<PathBuf>,
    },
    /// Print the JSON Schema of shop events.
    Schema,
    /// Buy-till-you-die models (BG/NBD, Pareto/NBD, Gamma-Gamma): fit, score, summarize.
    Models {
        #[command(subcommand)]
        command: models::ModelsCommand,
    },
    /// Send-time optimization: recommendations from an export, and the evaluation.
    Sto {
        #[command(subcommand)]
        command: sto::StoCommand,
    },
    /// The product catalogue: import a feed, show a product.
    Catalog {
        #[command(subcommand)]
        command: catalog::CatalogCommand,
    },
    /// Campaign files: check them, deploy them, print their schema.
    Campaigns {
        #[command(subcommand)]
        command: campaigns::CampaignsCommand,
    },
    /// The loyalty program: check and deploy it, a member's statement, redeem, adjust, the
    /// nightly job.
    Loyalty {
        #[command(subcommand)]
        command: loyalty::LoyaltyCommand,
    },
    /// Product recommendations: from an interaction export, the offline evaluation, a
    /// synthetic shop.
    Recs {
        #[command(subcommand)]
        command: recs::RecsCommand,
    },
    /// Deliver every send due up to now (or --until) through the local outbox: the policy,
    /// exactly-once claims and the decision trace, as the dispatch Lambda does.
    Dispatch {
        /// Dispatch as of this instant (RFC 3339), default now.
        #[arg(long)]
        until: Option<chrono::DateTime<chrono::Utc>>,
        /// The outbox file messages are written to (JSON lines).
        #[arg(long, default_value = "outbox.jsonl")]
        outbox: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Why a customer did or did not get a message: every delivery decision, in plain sentences.
    Why {
        #[arg(long)]
        customer: String,
        #[arg(long)]
        campaign: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Manage the DynamoDB table (for local endpoints; production tables come from the SAM template).
    Table {
        #[command(subcommand)]
        action: TableAction,
    },
}

#[derive(Subcommand)]
enum TableAction {
    /// Create the table (on-demand, stream, TTL) if it does not exist.
    Create {
        #[arg(long, env = "KAIROS_TABLE")]
        table: String,
    },
}

/// Where state lives.
#[derive(Args, Clone, Debug)]
pub struct StoreArgs {
    /// Keep the embedded store in this file between runs (default: in memory for this run).
    #[arg(long, conflicts_with = "dynamodb_table")]
    state: Option<PathBuf>,
    /// Use this DynamoDB table instead of the embedded store.
    #[arg(long)]
    dynamodb_table: Option<String>,
}

impl StoreArgs {
    async fn open(&self) -> Result<AnyStore, String> {
        match (&self.dynamodb_table, &self.state) {
            (Some(table), _) => {
                let client = aws_sdk_dynamodb::Client::new(&kairos::config::aws().await);
                Ok(AnyStore::Dynamo(DynamoStore::new(client, table)))
            }
            (None, Some(path)) => EmbeddedStore::open(path).map(AnyStore::Embedded).map_err(|e| e.to_string()),
            (None, None) => Ok(AnyStore::Embedded(EmbeddedStore::new())),
        }
    }

    fn save(&self, store: &AnyStore) -> Result<(), String> {
        match (store, &self.state) {
            (AnyStore::Embedded(s), Some(path)) => s.save(path).map_err(|e| e.to_string()),
            _ => Ok(()),
        }
    }
}

// Ingest is allocation-bound (serde documents); mimalloc gives it a quarter more throughput.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    kairos::telemetry::init_human();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ingest(args) => ingest::run(args).await,
        // Its own runtime on its own thread: the run drives many functions, each on the clock.
        Command::Simulate(args) => std::thread::spawn(move || simulate::run(args))
            .join()
            .unwrap_or_else(|_| Err("the simulation stopped on an internal error".into())),
        Command::Validate { paths } => ingest::validate(&paths),
        Command::Profile { customer, store, json } => ingest::show_profile(&customer, &store, json).await,
        Command::Rejected { day, store, json } => ingest::show_rejected(day, &store, json).await,
        Command::Sto { command } => sto::run(command).await,
        Command::Models { command } => models::run(command).await,
        Command::Recs { command } => recs::run(command).await,
        Command::Catalog { command } => catalog::run(command).await,
        Command::Campaigns { command } => campaigns::run(command).await,
        Command::Loyalty { command } => loyalty::run(command).await,
        Command::Dispatch { until, outbox, store } => delivery::dispatch(until, outbox, &store).await,
        Command::Why { customer, campaign, store } => delivery::why(&customer, campaign.as_deref(), &store).await,
        Command::Schema => {
            print::out(serde_json::to_string_pretty(&kairos::event::json_schema()).unwrap_or_default());
            Ok(ExitCode::SUCCESS)
        }
        Command::Table { action: TableAction::Create { table } } => {
            let client = aws_sdk_dynamodb::Client::new(&kairos::config::aws().await);
            DynamoStore::new(client, &table).create_table().await.map(|()| ExitCode::SUCCESS).map_err(|e| e.to_string())
        }
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("kairos: {message}");
            ExitCode::from(2)
        }
    }
}
