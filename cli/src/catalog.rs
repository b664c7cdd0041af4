//! `kairos catalog`: import a product feed, show a product.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use futures::StreamExt;
use kairos::catalogue::{self, Outcome, import::read_feed};
use kairos::ids::ProductId;

#[derive(Subcommand)]
pub enum CatalogCommand {
    /// Import a product feed (CSV: product_id,title[,url,image_url,price,currency,category,brand,
    /// in_stock,updated_at,attributes...]). Re-importing an unchanged feed writes nothing.
    Import {
        file: PathBuf,
        #[command(flatten)]
        store: crate::StoreArgs,
    },
    /// Show one product as the catalogue holds it.
    Show {
        product: String,
        #[command(flatten)]
        store: crate::StoreArgs,
    },
}

/// Products written at once during an import.
const CONCURRENCY: usize = 16;

pub async fn run(command: CatalogCommand) -> Result<ExitCode, String> {
    match command {
        CatalogCommand::Import { file, store: args } => {
            let input = std::fs::File::open(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let (events, errors) = read_feed(std::io::BufReader::new(input), chrono::Utc::now())?;
            for e in &errors {
                eprintln!("{}: skipped {e}", file.display());
            }
            let store = args.open().await?;
            let store = &store;
            let outcomes: Vec<_> = futures::stream::iter(events.iter().map(|e| catalogue::apply(store, e)))
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            let (mut applied, mut unchanged, mut failed) = (0, 0, 0);
            for outcome in outcomes {
                match outcome {
                    Ok(Outcome::Applied) => applied += 1,
                    Ok(Outcome::Duplicate | Outcome::Superseded) => unchanged += 1,
                    Err(e) => {
                        failed += 1;
                        eprintln!("{}: {e}", file.display());
                    }
                }
            }
            args.save(store)?;
            eprintln!(
                "{applied} products written, {unchanged} unchanged, {} rows skipped, {failed} failed",
                errors.len()
            );
            Ok(if errors.is_empty() && failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        CatalogCommand::Show { product, store } => {
            let id = ProductId::new(product).map_err(|e| format!("product id {e}"))?;
            let store = store.open().await?;
            match catalogue::get(&store, &id).await.map_err(|e| e.to_string())? {
                Some(p) => {
                    crate::print::out(serde_json::to_string_pretty(&p).map_err(|e| e.to_string())?);
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    eprintln!("the catalogue has no product {id}");
                    Ok(ExitCode::from(1))
                }
            }
        }
    }
}
