//! Running a scheduled job locally: the same runner and protocol the Lambda workers use, over
//! an in-process queue.

use std::process::ExitCode;

use chrono::Utc;
use kairos::jobs::SegmentedJob;
use kairos::jobs::local::LocalQueue;
use kairos::jobs::runner::{Runner, drain};

use crate::StoreArgs;

/// What running a nightly job locally takes.
#[derive(clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Parallel-scan segments (the fan-out the Lambda workers share).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub segments: u32,
    /// Run id (default: now).
    #[arg(long)]
    pub run: Option<String>,
}

/// Starts run `run` (default: now) of `job` over `segments` and works it to the end.
pub async fn run_local<J: SegmentedJob>(args: RunArgs, job: J) -> Result<ExitCode, String> {
    let store = args.store.open().await?;
    run_on(args, job, None, store).await
}

/// [`run_local`] for a job that starts with a model its caller made (it gathers nothing).
pub async fn run_with_model<J: SegmentedJob>(
    args: RunArgs,
    job: J,
    model: J::Model,
    store: kairos::store::any::AnyStore,
) -> Result<ExitCode, String> {
    run_on(args, job, Some(model), store).await
}

async fn run_on<J: SegmentedJob>(
    args: RunArgs,
    job: J,
    model: Option<J::Model>,
    store: kairos::store::any::AnyStore,
) -> Result<ExitCode, String> {
    let RunArgs { store: store_args, segments, run } = args;
    let queue = LocalQueue::new();
    let now = Utc::now();
    let run = run.unwrap_or_else(|| now.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    let runner = Runner { store: &store, queue: &queue, job: &job };
    match &model {
        Some(m) => runner.start_with_model(&run, segments, m, now).await,
        None => runner.start(&run, segments, now).await,
    }
    .map_err(|e| e.to_string())?;
    let (tasks, _) = drain(&runner, now).await.map_err(|e| e.to_string())?;
    store_args.save(&store)?;
    let state = runner.run_state(&run).await.map_err(|e| e.to_string())?.ok_or("the run vanished")?;
    let mut line = format!("{} run {run}: {tasks} tasks over {segments} segments, {:?}", J::NAME, state.phase);
    if let Some(r) = state.report {
        let c = r.customers;
        line.push_str(&format!(
            "; customers read {}, written {}, skipped {}, unreadable {}, failed {}, flagged {}; sends queued {}",
            c.read, c.written, c.skipped, c.unreadable, c.failed, c.flagged, c.queued
        ));
    }
    crate::print::out(line);
    Ok(ExitCode::SUCCESS)
}
