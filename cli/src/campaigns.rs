//! `kairos campaigns`: check campaign files, deploy them, print their schema.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use kairos::campaign::check::Severity;
use kairos::campaign::load::read_dir;
use kairos::campaign::stored::{Deployment, deploy};

#[derive(Subcommand)]
pub enum CampaignsCommand {
    /// Check campaign files (a folder of .yaml files, or one file): every problem with file, line
    /// and field. Exits non-zero on any error.
    Validate { path: PathBuf },
    /// Validate campaign files and load them into the store: a new version for each campaign
    /// whose content changed (sends already queued keep the version they started with).
    /// Nothing is deployed if any file has an error.
    Deploy {
        path: PathBuf,
        #[command(flatten)]
        store: crate::StoreArgs,
    },
    /// Print the JSON Schema of campaign files.
    Schema,
}

pub async fn run(command: CampaignsCommand) -> Result<ExitCode, String> {
    match command {
        CampaignsCommand::Validate { path } => {
            let (campaigns, problems) = read_dir(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            for p in &problems {
                println!("{p}");
            }
            let errors = problems.iter().filter(|p| p.severity == Severity::Error).count();
            eprintln!("{} campaigns read, {errors} errors, {} warnings", campaigns.len(), problems.len() - errors);
            Ok(if errors == 0 && !campaigns.is_empty() {
                ExitCode::SUCCESS
            } else {
                if campaigns.is_empty() && errors == 0 {
                    eprintln!("no campaign files (.yaml, .yml) in {}", path.display());
                }
                ExitCode::FAILURE
            })
        }
        CampaignsCommand::Deploy { path, store: args } => {
            let (campaigns, problems) = read_dir(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            for p in &problems {
                println!("{p}");
            }
            if problems.iter().any(|p| p.severity == Severity::Error) || campaigns.is_empty() {
                eprintln!("nothing deployed: fix the errors above (or add campaign files) first");
                return Ok(ExitCode::FAILURE);
            }
            let store = args.open().await?;
            let now = chrono::Utc::now();
            for campaign in &campaigns {
                let outcome = deploy(&store, campaign, now).await.map_err(|e| format!("{}: {e}", campaign.id))?;
                let what = match outcome {
                    Deployment::Created => "deployed (version 1)".to_string(),
                    Deployment::Updated { version } => format!("deployed (version {version})"),
                    Deployment::Unchanged { version } => format!("unchanged (version {version})"),
                };
                println!("{}: {what}", campaign.id);
            }
            args.save(&store)?;
            Ok(ExitCode::SUCCESS)
        }
        CampaignsCommand::Schema => {
            crate::print::out(serde_json::to_string_pretty(&kairos::campaign::json_schema()).unwrap_or_default());
            Ok(ExitCode::SUCCESS)
        }
    }
}
