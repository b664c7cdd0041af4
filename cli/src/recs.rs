//! `kairos recs`: recommendations from an interaction export, the offline evaluation, and a
//! synthetic shop to try them on.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use kairos::recommend::blend::{BlendConfig, Model};
use kairos::recommend::data::{Interactions, Signal};
use kairos::recommend::eval::compare;
use kairos::recommend::files::{ItemFile, read_interactions, read_items};
use kairos::recommend::par_map;
use kairos::recommend::synth::{ShopConfig, ceiling, generate};

#[derive(Subcommand)]
pub enum RecsCommand {
    /// Top-k products for every user of an interaction export (user_id,item_id,timestamp[,event]);
    /// writes CSV user_id,rank,item_id, never an item the user already has.
    Recommend(RecommendArgs),
    /// Leave-last-out evaluation of Kairos against plain item-kNN and popularity (JSON).
    Eval(EvalArgs),
    /// Write a synthetic shop with known tastes: interactions.csv, items.csv, and ceiling.json
    /// (the figures of the generator's own ranking, the most any recommender can reach on it).
    Synth(SynthArgs),
    /// Rebuild the model and every customer's recommendations, as the nightly job does.
    Refit(crate::jobs::RunArgs),
    /// A customer's stored recommendations, each with its reason.
    Show {
        #[arg(long)]
        customer: String,
        #[command(flatten)]
        store: crate::StoreArgs,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct Inputs {
    /// Interactions CSV: user_id,item_id,timestamp[,event] (timestamp in seconds or RFC 3339;
    /// event view, cart or order).
    #[arg(long)]
    interactions: PathBuf,
    /// Items CSV: item_id,category[,brand][,attribute columns...] (category as `A > B` or `A/B`).
    #[arg(long)]
    items: Option<PathBuf>,
    /// Extra weight for long-tail items (0 = none).
    #[arg(long, default_value_t = 0.0, value_parser = boost)]
    long_tail_boost: f32,
}

fn boost(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(b) if b.is_finite() && (0.0..=100.0).contains(&b) => Ok(b),
        _ => Err("must be a number from 0 to 100".into()),
    }
}

#[derive(Args)]
pub struct RecommendArgs {
    #[command(flatten)]
    inputs: Inputs,
    /// How many products per user.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    k: u32,
    /// Where to write the CSV (default: standard output).
    #[arg(long)]
    output: Option<PathBuf>,
}

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    inputs: Inputs,
}

#[derive(Args)]
pub struct SynthArgs {
    #[arg(long, default_value_t = 20_000)]
    users: usize,
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    items: u64,
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    categories: u64,
    #[arg(long, default_value_t = 180, value_parser = clap::value_parser!(u32).range(1..=3650))]
    days: u32,
    #[arg(long, default_value_t = 2026)]
    seed: u64,
    /// Folder to write interactions.csv and items.csv into.
    #[arg(long, default_value = "kairos-shop")]
    out: PathBuf,
}

pub async fn run(command: RecsCommand) -> Result<ExitCode, String> {
    match command {
        RecsCommand::Refit(args) => crate::jobs::run_local(args, kairos::recommend::job::RecommendJob).await,
        RecsCommand::Show { customer, store, json } => show(&customer, &store, json).await,
        RecsCommand::Recommend(args) => recommend(args),
        RecsCommand::Eval(args) => {
            let (data, catalogue) = load(&args.inputs)?;
            let config = BlendConfig { long_tail_boost: args.inputs.long_tail_boost, ..BlendConfig::default() };
            let report = compare(&data, |i| catalogue.describe.get(i as usize), config);
            crate::print::out(serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?);
            Ok(ExitCode::SUCCESS)
        }
        RecsCommand::Synth(args) => synth(args),
    }
}

fn open(path: &Path) -> Result<BufReader<File>, String> {
    File::open(path).map(BufReader::new).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// The interactions, with the catalogue's items first (so descriptions line up by index).
fn load(inputs: &Inputs) -> Result<(Interactions, ItemFile), String> {
    let catalogue = match &inputs.items {
        Some(path) => {
            let (file, errors) = read_items(open(path)?)?;
            for e in &errors {
                eprintln!("{}: skipped {e}", path.display());
            }
            file
        }
        None => ItemFile::default(),
    };
    let (data, errors) = read_interactions(open(&inputs.interactions)?, catalogue.items.clone())?;
    for e in errors.iter().take(20) {
        eprintln!("{}: skipped {e}", inputs.interactions.display());
    }
    if errors.len() > 20 {
        eprintln!("{}: … and {} more rows skipped", inputs.interactions.display(), errors.len() - 20);
    }
    eprintln!(
        "{} interactions of {} users over {} items ({} rows skipped)",
        data.len(),
        data.user_count(),
        data.item_count(),
        errors.len()
    );
    Ok((data, catalogue))
}

fn recommend(args: RecommendArgs) -> Result<ExitCode, String> {
    let (data, catalogue) = load(&args.inputs)?;
    let config = BlendConfig { long_tail_boost: args.inputs.long_tail_boost, ..BlendConfig::default() };
    let now = data.latest();
    let model = Model::train(&data, now, |i| catalogue.describe.get(i as usize), |_| true, config);
    let users: Vec<u32> = (0..data.user_count() as u32).collect();
    let k = args.k as usize;
    let picks = par_map(&users, |&u| model.recommend(data.history(u), now, k));
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(File::create(path).map_err(|e| format!("cannot write {}: {e}", path.display()))?),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut writer = csv::Writer::from_writer(BufWriter::with_capacity(1 << 20, out));
    writer.write_record(["user_id", "rank", "item_id"]).map_err(crate::print::csv_error)?;
    // Ranks as text once, not a `String` per row (a million users write ten million rows).
    let ranks: Vec<String> = (1..=k).map(|r| r.to_string()).collect();
    for (u, list) in users.iter().zip(&picks) {
        let user = data.users.name(*u);
        for (r, p) in list.iter().enumerate() {
            writer.write_record([user, ranks[r].as_str(), data.items.name(p.item)]).map_err(crate::print::csv_error)?;
        }
    }
    writer.flush().map_err(|e| {
        crate::print::gone_or_fail(&e);
        e.to_string()
    })?;
    Ok(ExitCode::SUCCESS)
}

fn synth(args: SynthArgs) -> Result<ExitCode, String> {
    let config = ShopConfig {
        users: args.users,
        items: args.items as usize,
        categories: args.categories as usize,
        days: args.days,
        seed: args.seed,
    };
    let shop = generate(&config);
    std::fs::create_dir_all(&args.out).map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let create = |name: &str| {
        let path = args.out.join(name);
        File::create(&path)
            .map(|f| csv::Writer::from_writer(BufWriter::new(f)))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    let mut items = create("items.csv")?;
    items.write_record(["item_id", "category", "brand", "colour"]).map_err(|e| e.to_string())?;
    for (i, d) in shop.catalogue.iter().enumerate() {
        let colour = d.attributes.first().map_or("", |a| a.1.as_str());
        let row =
            [shop.interactions.items.name(i as u32), &d.category.join(" > "), d.brand.as_deref().unwrap_or(""), colour];
        items.write_record(row).map_err(|e| e.to_string())?;
    }
    items.flush().map_err(|e| e.to_string())?;
    let mut out = create("interactions.csv")?;
    out.write_record(["user_id", "item_id", "timestamp", "event"]).map_err(|e| e.to_string())?;
    for (u, history) in shop.interactions.by_user() {
        for e in history {
            let event = match e.signal {
                Signal::View => "view",
                Signal::Cart => "cart",
                Signal::Order => "order",
            };
            let at = e.at.to_string();
            out.write_record([shop.interactions.users.name(u), shop.interactions.items.name(e.item), &at, event])
                .map_err(|e| e.to_string())?;
        }
    }
    out.flush().map_err(|e| e.to_string())?;
    // What only the generator can know: its own ranking on the split `recs eval` makes.
    let best = ceiling(&shop);
    let path = args.out.join("ceiling.json");
    let text = serde_json::to_string_pretty(&best).map_err(|e| e.to_string())?;
    std::fs::write(&path, text + "\n").map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    eprintln!(
        "{} interactions of {} users over {} items in {}; the generator's own ranking reaches HR@10 {:.4} (ceiling.json)",
        shop.interactions.len(),
        shop.interactions.user_count(),
        shop.interactions.item_count(),
        args.out.display(),
        best.hr_at_10
    );
    Ok(ExitCode::SUCCESS)
}

async fn show(customer: &str, args: &crate::StoreArgs, json: bool) -> Result<ExitCode, String> {
    use kairos::recommend::job::CustomerRecs;
    let id = kairos::ids::CustomerId::new(customer).map_err(|e| format!("customer id {e}"))?;
    let store = args.open().await?;
    let Some(recs) = kairos::customers::output::<_, CustomerRecs>(&store, &id, kairos::keys::RECOMMENDATIONS)
        .await
        .map_err(|e| e.to_string())?
    else {
        eprintln!("no recommendations for {id} yet (run `kairos recs refit`)");
        return Ok(ExitCode::from(1));
    };
    if json {
        crate::print::out(serde_json::to_string_pretty(&recs).map_err(|e| e.to_string())?);
        return Ok(ExitCode::SUCCESS);
    }
    // Titles from the catalogue, where it knows the product.
    let mut titles = std::collections::HashMap::new();
    for p in &recs.picks {
        for product in std::iter::once(p.product.as_str()).chain(p.why.source()) {
            if let Ok(pid) = kairos::ids::ProductId::new(product)
                && let Ok(Some(known)) = kairos::catalogue::get(&store, &pid).await
            {
                titles.insert(product.to_string(), known.title);
            }
        }
    }
    let title = |product: &str| titles.get(product).cloned().unwrap_or_else(|| product.to_string());
    crate::print::out(format!(
        "{id}: {} recommendations of {}",
        recs.picks.len(),
        kairos::clock::Minute(recs.refreshed_at)
    ));
    for (rank, p) in recs.picks.iter().enumerate() {
        let reason = kairos::recommend::reason::explain(&p.why, title, recs.refreshed_at);
        crate::print::out(format!("{:>2}. {}  ({})", rank + 1, title(&p.product), reason.text));
    }
    Ok(ExitCode::SUCCESS)
}
