//! `kairos campaigns`: check campaign files, deploy them, print their schema.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use kairos::campaign::check::Severity;
use kairos::campaign::load::read_dir;
use kairos::campaign::preview::preview;
use kairos::campaign::render::Message;
use kairos::campaign::stored::{Deployment, deploy};
use kairos::content::ShopView;
use kairos::ids::CustomerId;

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
    /// Count and sample the customers in a campaign's audience (every profile in the store,
    /// with its nightly churn score).
    Audience {
        file: PathBuf,
        /// How many matching customer ids to show.
        #[arg(long, default_value_t = 10)]
        sample: usize,
        #[command(flatten)]
        store: crate::StoreArgs,
    },
    /// Render a deployed campaign for one real customer: the variant, each channel, the
    /// recommendations, and whether the send would go now.
    Preview {
        #[arg(long)]
        campaign: String,
        #[arg(long)]
        customer: String,
        /// Write the email's HTML part to this file.
        #[arg(long)]
        html: Option<PathBuf>,
        #[arg(long, default_value = "Your shop")]
        shop_name: String,
        #[arg(long, default_value = "Your shop's postal address")]
        shop_address: String,
        #[arg(long, default_value = "https://shop.example")]
        shop_url: String,
        #[command(flatten)]
        store: crate::StoreArgs,
    },
    /// A campaign's variants: sends, rewards (clicks), each one's rate and the share of sends
    /// the bandit gives it now, and the holdout.
    Stats {
        #[arg(long)]
        campaign: String,
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
        CampaignsCommand::Audience { file, sample, store: args } => {
            let (campaigns, problems) = read_dir(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            for p in problems.iter().filter(|p| p.severity == Severity::Error) {
                println!("{p}");
            }
            let [campaign] = campaigns.as_slice() else {
                return Err(format!("{}: expected one campaign file that reads", file.display()));
            };
            let store = args.open().await?;
            let count = kairos::campaign::audience_scan::count(&store, campaign, sample, chrono::Utc::now())
                .await
                .map_err(|e| e.to_string())?;
            println!("{}: {} of {} customers in the audience", campaign.id, count.matched, count.customers);
            for id in &count.sample {
                println!("  {id}");
            }
            if count.unreadable > 0 {
                eprintln!("{} profiles could not be read and were left out", count.unreadable);
            }
            Ok(ExitCode::SUCCESS)
        }
        CampaignsCommand::Preview { campaign, customer, html, shop_name, shop_address, shop_url, store: args } => {
            let store = args.open().await?;
            let customer = CustomerId::new(customer).map_err(|e| format!("--customer: {e}"))?;
            let (deployed, _) = kairos::campaign::stored::current(&store).await.map_err(|e| e.to_string())?;
            let Some(d) = deployed.iter().find(|d| d.campaign.id.as_str() == campaign) else {
                return Err(format!(
                    "no deployed campaign {campaign}: deploy it first (kairos campaigns deploy DIR, same store options)"
                ));
            };
            let shop = ShopView { name: shop_name, postal_address: shop_address, url: shop_url };
            let now = chrono::Utc::now();
            let Some(p) = preview(&store, &d.campaign, &customer, &shop, now).await.map_err(|e| e.to_string())? else {
                return Err(format!("no profile of {customer}"));
            };
            println!("{} (version {}) for {customer}: variant {}", d.campaign.id, d.version, p.variant);
            if p.held_out {
                println!(
                    "in the holdout ({}% of customers): this customer gets nothing from this campaign; shown as the others would get it",
                    d.campaign.holdout_percent
                );
            }
            println!("send time: {} ({})", p.send_at.at.to_rfc3339(), p.send_at.reason);
            match &p.would_send {
                Ok(()) => println!("would send now: yes (consent, quiet hours and caps are decided at delivery)"),
                Err(why) => println!("would send now: no: {}", why.0),
            }
            for (id, why) in &p.recommendations {
                println!("recommended: {id}: {why}");
            }
            for (channel, message) in &p.messages {
                println!("--- {}", channel.as_str());
                match message {
                    Ok(Message::Email { subject, preheader, html: body, text }) => {
                        println!("subject: {subject}");
                        if let Some(p) = preheader {
                            println!("preheader: {p}");
                        }
                        println!("{text}");
                        if let Some(path) = &html {
                            std::fs::write(path, body).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                            println!("(HTML part written to {})", path.display());
                        }
                    }
                    Ok(Message::Sms { body }) => {
                        let s = kairos::content::sms::segments(body);
                        println!("{body}\n({} part(s), {:?})", s.parts, s.encoding);
                    }
                    Ok(Message::Push(push)) => {
                        println!("{}", serde_json::to_string_pretty(&push.apns()).unwrap_or_default())
                    }
                    Err(e) => println!("not sent: {e}"),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        CampaignsCommand::Stats { campaign, store: args } => {
            let store = args.open().await?;
            let (deployed, _) = kairos::campaign::stored::current(&store).await.map_err(|e| e.to_string())?;
            let Some(d) = deployed.iter().find(|d| d.campaign.id.as_str() == campaign) else {
                return Err(format!("no deployed campaign {campaign}"));
            };
            let (counts, problems) =
                kairos::campaign::stats::read(&store, &d.campaign.id).await.map_err(|e| e.to_string())?;
            for e in &problems {
                eprintln!("warning: a counter cannot be read and is left out: {e}");
            }
            let arms = kairos::campaign::stats::in_order(&d.campaign, &counts);
            let share = kairos::campaign::bandit::allocation(&arms, 20_000);
            println!(
                "{} (version {}), holdout {}% (gets nothing)",
                d.campaign.id, d.version, d.campaign.holdout_percent
            );
            println!("variant,sends,rewards,rate,share_of_next_sends");
            for ((v, arm), share) in d.campaign.variants.iter().zip(&arms).zip(&share) {
                println!("{},{},{},{:.4},{:.3}", v.id, arm.sends, arm.rewards, arm.mean(), share);
            }
            Ok(ExitCode::SUCCESS)
        }
        CampaignsCommand::Schema => {
            crate::print::out(serde_json::to_string_pretty(&kairos::campaign::json_schema()).unwrap_or_default());
            Ok(ExitCode::SUCCESS)
        }
    }
}
