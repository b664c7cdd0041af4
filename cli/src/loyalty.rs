//! `kairos loyalty`: check and deploy the program file, print a member's statement, redeem a
//! reward, adjust points, run the nightly job locally.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use kairos::deploy::Deployment;
use kairos::findings::has_errors;
use kairos::ids::{CustomerId, Ident};
use kairos::loyalty::accounts::{self, statement};
use kairos::loyalty::job::{LoyaltyJob, RunModel};
use kairos::loyalty::program;
use kairos::loyalty::redeem::{IdempotencyKey, Request};
use kairos::loyalty::stored;

#[derive(Subcommand)]
pub enum LoyaltyCommand {
    /// Check a program file: every problem with file, line and field. Exits non-zero on any
    /// error.
    Validate { file: PathBuf },
    /// Validate the program file and put it in force (a new version when it changed).
    Deploy {
        file: PathBuf,
        #[command(flatten)]
        store: crate::StoreArgs,
    },
    /// A member's ledger, lots and balances.
    Statement {
        #[arg(long)]
        customer: String,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: crate::StoreArgs,
    },
    /// Redeem a reward for a member, as the redemption API does.
    Redeem {
        #[arg(long)]
        customer: String,
        #[arg(long)]
        reward: String,
        /// The same key redeems once (default: a new one).
        #[arg(long)]
        key: Option<String>,
        /// Reward codes are derived from this (the deployment's KAIROS_OFFER_SECRET).
        #[arg(long, env = "KAIROS_OFFER_SECRET", default_value = "local")]
        secret: String,
        #[command(flatten)]
        store: crate::StoreArgs,
    },
    /// Add (or, negative, take) points by hand, with the reason and who made it.
    Adjust {
        #[arg(long)]
        customer: String,
        #[arg(long, allow_negative_numbers = true)]
        points: i64,
        #[arg(long)]
        reason: String,
        #[arg(long, default_value = "cli")]
        actor: String,
        /// The same key adjusts once (default: a new one).
        #[arg(long)]
        key: Option<String>,
        #[command(flatten)]
        store: crate::StoreArgs,
    },
    /// The nightly job (release, expiry, tiers, notices, birthday bonus, offers), run locally.
    Run(crate::jobs::RunArgs),
    /// Print the JSON Schema of program files.
    Schema,
}

fn read_program(file: &PathBuf) -> Result<(Option<program::Program>, bool), String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let (program, problems) = program::read(&file.display().to_string(), &text);
    for p in &problems {
        println!("{p}");
    }
    Ok((program, has_errors(&problems)))
}

fn customer(id: &str) -> Result<CustomerId, String> {
    CustomerId::new(id).map_err(|e| format!("--customer: {e}"))
}

fn fresh_key() -> String {
    format!("cli-{}", chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default())
}

pub async fn run(command: LoyaltyCommand) -> Result<ExitCode, String> {
    match command {
        LoyaltyCommand::Validate { file } => {
            let (program, errors) = read_program(&file)?;
            Ok(if program.is_some() && !errors {
                eprintln!("{}: the program reads and passes every check", file.display());
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        LoyaltyCommand::Deploy { file, store: args } => {
            let (program, errors) = read_program(&file)?;
            let Some(program) = program.filter(|_| !errors) else {
                eprintln!("nothing deployed: fix the errors above first");
                return Ok(ExitCode::FAILURE);
            };
            let store = args.open().await?;
            let outcome = stored::deploy(&store, &program, chrono::Utc::now()).await.map_err(|e| e.to_string())?;
            let what = match outcome {
                Deployment::Created => "deployed (version 1)".to_string(),
                Deployment::Updated { version } => format!("deployed (version {version})"),
                Deployment::Unchanged { version } => format!("unchanged (version {version})"),
            };
            println!("{}: {what}", program.id);
            args.save(&store)?;
            Ok(ExitCode::SUCCESS)
        }
        LoyaltyCommand::Statement { customer: id, json, store: args } => {
            let store = args.open().await?;
            let s = statement(&store, &customer(&id)?).await.map_err(|e| e.to_string())?;
            if json {
                let value = serde_json::json!({"account": s.account, "entries": s.entries});
                crate::print::out(serde_json::to_string_pretty(&value).unwrap_or_default());
            } else {
                crate::print::out(render_statement(&id, &s));
            }
            Ok(ExitCode::SUCCESS)
        }
        LoyaltyCommand::Redeem { customer: id, reward, key, secret, store: args } => {
            let store = args.open().await?;
            let request = Request {
                customer_id: customer(&id)?,
                reward_id: Ident::new(reward).map_err(|e| format!("--reward: {e}"))?,
                idempotency_key: IdempotencyKey::try_from(key.unwrap_or_else(fresh_key))
                    .map_err(|e| format!("--key: {e}"))?,
            };
            let deployed = stored::current(&store).await.map_err(|e| e.to_string())?;
            let answer = accounts::redeem(&store, deployed.as_ref(), &request, secret.as_bytes(), chrono::Utc::now())
                .await
                .map_err(|e| e.to_string())?;
            args.save(&store)?;
            crate::print::out(format!(
                "{} {}",
                answer.status,
                serde_json::to_string_pretty(&answer.body).unwrap_or_default()
            ));
            Ok(if answer.status == 200 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        LoyaltyCommand::Adjust { customer: id, points, reason, actor, key, store: args } => {
            let store = args.open().await?;
            let Some(deployed) = stored::current(&store).await.map_err(|e| e.to_string())? else {
                return Err("no loyalty program is deployed (kairos loyalty deploy FILE)".into());
            };
            let key = key.unwrap_or_else(fresh_key);
            let outcome = accounts::adjust(
                &store,
                &deployed.program,
                &customer(&id)?,
                points,
                &reason,
                &actor,
                &key,
                chrono::Utc::now(),
            )
            .await
            .map_err(|e| e.to_string())?;
            args.save(&store)?;
            crate::print::out(format!("{id}: {outcome:?}"));
            Ok(ExitCode::SUCCESS)
        }
        LoyaltyCommand::Run(args) => {
            let store = args.store.open().await?;
            let program = stored::current(&store).await.map_err(|e| e.to_string())?;
            if program.is_none() {
                return Err("no loyalty program is deployed (kairos loyalty deploy FILE)".into());
            }
            crate::jobs::run_with_model(args, LoyaltyJob, RunModel { program }, store).await
        }
        LoyaltyCommand::Schema => {
            crate::print::out(serde_json::to_string_pretty(&program::json_schema()).unwrap_or_default());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A statement as people read it.
pub fn render_statement(id: &str, s: &accounts::Statement) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let Some(a) = &s.account else {
        return format!("{id}: no loyalty account (no points earned yet)");
    };
    let _ = writeln!(
        out,
        "{id}  {}: {} active, {} pending; tier {}",
        a.program,
        a.active_points(),
        a.pending_points(),
        a.tier.as_ref().map_or("none", |t| t.id.as_str())
    );
    let t = &a.totals;
    let _ = writeln!(
        out,
        "  totals: earned {}, released {}, redeemed {}, expired {}, reversed {}, adjusted {}, shortfall {}",
        t.earned, t.released, t.redeemed, t.expired, t.reversed, t.adjusted, t.shortfall
    );
    for lot in &a.pending {
        let _ = writeln!(
            out,
            "  pending lot: {} points earned {}, spendable from {}",
            lot.points, lot.earned, lot.release_on
        );
    }
    for lot in &a.active {
        let expires = lot.expires_on.map_or_else(|| "never expire".to_string(), |d| format!("expire on {d}"));
        let _ = writeln!(out, "  active lot: {} points earned {}, {expires}", lot.points, lot.earned);
    }
    if let Some(o) = &a.offer {
        let _ = writeln!(out, "  offer: {} ({} to {})", o.name, o.from, o.until);
    }
    let _ = writeln!(out, "  ledger ({} entries):", s.entries.len());
    for e in &s.entries {
        let mut line = format!(
            "    #{:<4} {}  {:<8} {:>+8} pending {:>+8} active  {}",
            e.seq,
            e.at.format("%Y-%m-%d %H:%M"),
            e.kind.name(),
            e.pending,
            e.active,
            e.cause
        );
        if !e.awards.is_empty() {
            let awards: Vec<String> = e.awards.iter().map(|a| format!("{} {}", a.rule, a.points)).collect();
            line.push_str(&format!(" [{}]", awards.join(", ")));
        }
        if e.shortfall > 0 {
            line.push_str(&format!(" (shortfall {})", e.shortfall));
        }
        if let Some(note) = &e.note {
            line.push_str(&format!(" — {note}"));
        }
        let _ = writeln!(out, "{line}");
    }
    match a.check_sums(&s.entries) {
        Ok(()) => out.push_str("  the entries add up to the balances"),
        Err(e) => out.push_str(&format!("  WARNING: {e}")),
    }
    out
}
