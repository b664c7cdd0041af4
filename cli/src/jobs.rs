//! Running a scheduled job locally: the same runner and protocol the Lambda workers use, over
//! an in-process queue.

use std::process::ExitCode;

use chrono::Utc;
use kairos::jobs::SegmentedJob;
use kairos::jobs::local::LocalQueue;
use kairos::jobs::runner::{Runner, drain};

use crate::StoreArgs;

/// Starts run `run` (default: now) of `job` over `segments` and works it to the end.
pub async fn run_local<J: SegmentedJob>(
    store_args: &StoreArgs,
    job: J,
    segments: u32,
    run: Option<String>,
) -> Result<ExitCode, String> {
    let store = store_args.open().await?;
    let queue = LocalQueue::new();
    let now = Utc::now();
    let run = run.unwrap_or_else(|| now.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    let runner = Runner { store: &store, queue: &queue, job: &job };
    runner.start(&run, segments, now).await.map_err(|e| e.to_string())?;
    let (tasks, _) = drain(&runner, now).await.map_err(|e| e.to_string())?;
    store_args.save(&store)?;
    let state = runner.start(&run, segments, now).await.map_err(|e| e.to_string())?;
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
