//! `kairos campaigns`: check campaign files, print their schema.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use kairos::campaign::check::Severity;
use kairos::campaign::load::read_dir;

#[derive(Subcommand)]
pub enum CampaignsCommand {
    /// Check campaign files (a folder of .yaml files, or one file): every problem with file, line
    /// and field. Exits non-zero on any error.
    Validate { path: PathBuf },
    /// Print the JSON Schema of campaign files.
    Schema,
}

pub fn run(command: CampaignsCommand) -> Result<ExitCode, String> {
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
        CampaignsCommand::Schema => {
            crate::print::out(serde_json::to_string_pretty(&kairos::campaign::json_schema()).unwrap_or_default());
            Ok(ExitCode::SUCCESS)
        }
    }
}
