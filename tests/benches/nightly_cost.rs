//! What a night of the scheduled jobs costs, measured the way AWS bills it, on a grown shop.
//!
//! `cargo bench -p kairos-tests --bench nightly_cost` (run without `--bench`, as `cargo test`
//! does, it uses a small shop and only checks that it runs).
//!
//! 1. A shop ([`kairos::synth::shop`]) of heavy and light customers over half a year is ingested
//!    in process: the table holds what ingest leaves (profile parts, archive chunks, markers of
//!    busy parts, rejected records), as in production.
//! 2. Two nights of both jobs (send-time refit, churn scoring) run through the same runner the
//!    Lambda workers use, on the embedded store, whose meter prices every request by DynamoDB's
//!    rules (scan pages per 4 KB of items, eventually consistent half; writes per KB of the larger
//!    of before and after). The second night is the steady state: every customer already has a
//!    model and a score, which the scans read and the writes replace.
//! 3. Reported per customer and per million customers: read and write units, and dollars
//!    (DynamoDB on demand, plus Lambda at the measured in-process time and a round trip per page
//!    and per customer write, plus SQS per task).

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use kairos::churn::job::{ChurnConfig, ChurnJob};
use kairos::clock::ManualClock;
use kairos::ingest::{IngestConfig, Record, ingest_batch};
use kairos::jobs::SegmentedJob;
use kairos::jobs::local::LocalQueue;
use kairos::jobs::runner::{RunReport, Runner, drain};
use kairos::recommend::job::RecommendJob;
use kairos::sto::job::SendTimeJob;
use kairos::store::embedded::EmbeddedStore;
use kairos::store::{Reading, Store, item_size, scan_all};
use kairos::synth::shop::{ShopConfig, Stream, stream};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
const LAMBDA_GB_SECOND: f64 = 0.000_013_333_4;
/// The template's memory: send-time 512 MB, churn 1024 MB.
const GB: [f64; 2] = [0.5, 1.0];
/// A DynamoDB round trip from Lambda in the same region.
const ROUND_TRIP: Duration = Duration::from_millis(6);
const SQS_REQUEST: f64 = 0.40 / 1e6;
const SEGMENTS: u32 = 8;

struct Night {
    used: Reading,
    busy: Duration,
    tasks: usize,
    report: RunReport,
}

async fn night<J: SegmentedJob>(store: &EmbeddedStore, job: &J, run: &str, now: chrono::DateTime<Utc>) -> Night {
    let queue = LocalQueue::new();
    let runner = Runner { store, queue: &queue, job };
    let before = store.meter().reading();
    let started = Instant::now();
    runner.start(run, SEGMENTS, now).await.expect("start");
    let (tasks, report) = drain(&runner, now).await.expect("the run");
    Night {
        used: store.meter().reading().since(&before),
        busy: started.elapsed(),
        tasks,
        report: report.expect("done"),
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (customers, days) = if full { (3_000, 180) } else { (150, 40) };
    let end = Utc.with_ymd_and_hms(2026, 11, 24, 0, 0, 0).single().expect("a date");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let shop = stream(&ShopConfig { seed: 2026, customers, days, end, ..ShopConfig::default() });
        println!("shop: {customers} customers, {days} days, {} events; mix {:?}", shop.events.len(), Stream::mix(&shop.events));
        let store = EmbeddedStore::new();
        let clock = ManualClock::new(end);
        let config = IngestConfig::default();
        let bodies: Vec<(chrono::DateTime<Utc>, String)> =
            shop.events.iter().map(|(t, e)| (*t, serde_json::to_string(e).expect("an event"))).collect();
        for chunk in bodies.chunks(10) {
            clock.set(chunk.iter().map(|(t, _)| *t).max().unwrap_or(end));
            let records: Vec<Record> = chunk.iter().map(|(_, b)| Record { id: "r", body: b }).collect();
            ingest_batch(&store, &clock, &config, &records).await;
        }
        let table = scan_all(&store, None).await.expect("scan");
        let bytes: usize = table.iter().map(item_size).sum();
        println!("table before the jobs: {} items, {:.1} MB", table.len(), bytes as f64 / 1e6);

        let churn = ChurnJob { config: ChurnConfig::from_lookup(|_| None).expect("defaults") };
        let mut nights = Vec::new();
        // The second run is the steady state: every customer has a model and a score to read and
        // replace. It runs an hour later on the same data, so the fits are the same (on a later
        // day this shop's little dropout can leave BG/NBD unidentified, and churn writes nothing).
        for (n, day) in [(1, end), (2, end + chrono::Duration::hours(1))] {
            let run = format!("night-{n}");
            let sto = night(&store, &SendTimeJob, &run, day).await;
            let scored = night(&store, &churn, &run, day).await;
            let recommended = night(&store, &RecommendJob, &run, day).await;
            nights.push((n, sto, scored, recommended));
        }
        let table = scan_all(&store, None).await.expect("scan");
        let model_sizes = |sk: &str| {
            let mut s: Vec<usize> = table.iter().filter(|i| i.key.sk == sk).map(item_size).collect();
            s.sort_unstable();
            (s.get(s.len() / 2).copied().unwrap_or(0), s.last().copied().unwrap_or(0))
        };
        println!(
            "outputs: STO median/max {:?} bytes, CHURN median/max {:?} bytes, RECS median/max {:?} bytes",
            model_sizes("STO"),
            model_sizes("CHURN"),
            model_sizes("RECS")
        );

        let mut by_kind: std::collections::BTreeMap<String, (usize, usize)> = std::collections::BTreeMap::new();
        for i in &table {
            let kind = if i.key.pk.starts_with("C#") { format!("C# {}", i.key.sk.split('#').next().unwrap_or("")) } else { i.key.pk.split('#').take(2).collect::<Vec<_>>().join("#") };
            let e = by_kind.entry(kind).or_default();
            e.0 += 1;
            e.1 += item_size(i);
        }
        println!("table after: {by_kind:?}");
        println!();
        println!("| run | job | customers | read units / customer | write units / customer | $ DynamoDB / M customers | $ Lambda / M | $ SQS / M |");
        println!("|---|---|---|---|---|---|---|---|");
        for (n, sto, scored, recommended) in &nights {
            let mut total_reads = 0.0;
            for (name, m, gb) in [("send-time", sto, GB[0]), ("churn", scored, GB[1]), ("recommend", recommended, GB[1])] {
                let c = m.report.customers.read.max(1) as f64;
                let reads = m.used.units.reads() / c;
                if name != "recommend" {
                    total_reads += reads;
                }
                let scale = 1e6 / c;
                // In-process time, plus a round trip per scan page and per customer write.
                let pages = (m.used.read_requests as f64).max(1.0);
                let seconds = m.busy.as_secs_f64() + (pages + m.used.write_requests as f64) * ROUND_TRIP.as_secs_f64();
                let lambda = (m.tasks as f64 * LAMBDA_REQUEST + seconds * gb * LAMBDA_GB_SECOND) * scale;
                // Per task: a send (batched by ten at fan-out), a receive, a delete.
                let sqs = m.tasks as f64 * 3.0 * SQS_REQUEST * scale;
                println!(
                    "| {n} | {name} | {} | {reads:.3} | {:.3} | ${:.3} | ${lambda:.3} | ${sqs:.4} |",
                    m.report.customers.read,
                    m.used.units.writes as f64 / c,
                    m.used.units.dollars() * scale
                );
            }
            println!("| {n} | **send-time + churn** | | **{total_reads:.3}** | | | | |");
        }
        let (_, sto, scored, recommended) = &nights[1];
        println!();
        println!(
            "in process: send-time {:.1} µs and churn {:.1} µs per customer (one thread, embedded store)",
            sto.busy.as_secs_f64() * 1e6 / sto.report.customers.read.max(1) as f64,
            scored.busy.as_secs_f64() * 1e6 / scored.report.customers.read.max(1) as f64
        );
        println!(
            "recommend in process: {:.1} µs per customer",
            recommended.busy.as_secs_f64() * 1e6 / recommended.report.customers.read.max(1) as f64
        );
        println!("churn, second run: {:?}", scored.report.customers);
        let model = store.get(&kairos::store::Key::new(kairos::keys::CHURN_MODEL.0, kairos::keys::CHURN_MODEL.1)).await.expect("model");
        println!("churn model problems: {}", model.map(|m| m.body["model"]["problems"].to_string()).unwrap_or_default());

        // A broadcast to every customer who consented, each at their best hour of the next 24
        // (the send-time model from the runs above): one scan, and per send its once-marker and
        // the due send in one transaction.
        let text = std::fs::read_to_string(kairos_tests::repo_root().join("campaigns/winter-sale.yaml")).expect("sample");
        let (campaign, problems) = kairos::campaign::load::read("winter-sale.yaml", &text);
        let mut campaign = campaign.unwrap_or_else(|| panic!("{problems:?}"));
        let at = end + chrono::Duration::hours(3);
        campaign.status = kairos::campaign::Status::Active;
        campaign.topic = Some(kairos::ids::Topic::new("marketing").expect("a topic"));
        campaign.audience = None;
        campaign.trigger = kairos::campaign::Trigger::Broadcast { at: at.fixed_offset() };
        campaign.send_time = kairos::campaign::SendTime::Optimised { within_hours: 24 };
        kairos::campaign::stored::deploy(&store, &campaign, end).await.expect("deploy");
        let queue = LocalQueue::new();
        let before = store.meter().reading();
        let started = Instant::now();
        let runs = kairos::campaign::scheduled::start_due(&store, &queue, SEGMENTS, end + chrono::Duration::hours(2)).await.expect("start");
        let runner = Runner { store: &store, queue: &queue, job: &kairos::campaign::scheduled::ScheduledJob };
        let (tasks, report) = drain(&runner, end + chrono::Duration::hours(2)).await.expect("the broadcast");
        let used = store.meter().reading().since(&before);
        let report = report.expect("done");
        let (c, sends) = (report.customers.read.max(1) as f64, report.customers.queued.max(1) as f64);
        println!();
        println!(
            "broadcast ({} run): {} customers read, {} sends queued, {tasks} tasks, {:.1} µs per customer in process",
            runs.len(),
            report.customers.read,
            report.customers.queued,
            started.elapsed().as_secs_f64() * 1e6 / c
        );
        println!(
            "broadcast: {:.3} read units per customer, {:.2} write units per send; ${:.3} DynamoDB per million customers ({:.0}% of them queued a send)",
            used.units.reads() / c,
            used.units.writes as f64 / sends,
            used.units.dollars() * 1e6 / c,
            100.0 * sends / c,
        );
    });
}
