//! Logs and metrics.
//!
//! Functions log one JSON object per line (CloudWatch Logs Insights reads the fields) with
//! correlation ids and never personal data; counts that matter go out as CloudWatch Embedded
//! Metric Format lines, which CloudWatch turns into metrics without an API call.

use serde_json::json;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// JSON lines for Lambda; `RUST_LOG` sets the level (default `info`).
pub fn init_json() {
    let _ = tracing::subscriber::set_global_default(json_subscriber(std::io::stdout));
}

/// The subscriber Lambda functions log through: one JSON object per line, the event's fields at
/// the top level and the current span's (the invocation's request id) under `span`.
pub fn json_subscriber<W>(writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        .with_writer(writer)
        .finish()
        .with(level_filter("info"))
}

/// Human-readable lines on stderr for the command line; `RUST_LOG` sets the level (default
/// `error`: the commands report rejected input themselves).
pub fn init_human() {
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .finish()
        .with(level_filter("error"))
        .try_init();
}

/// Which logs to keep, from `RUST_LOG` (`warn`, `info,kairos=debug`, ...), or `default` when it
/// is unset or unreadable. Targets and levels only: span and field filters would link a regex
/// engine into every function for nothing Kairos logs.
pub fn level_filter(default: &str) -> Targets {
    std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| default.parse().unwrap_or_else(|_| Targets::new().with_default(tracing::Level::INFO)))
}

/// Writes an Embedded Metric Format line to standard output when running in Lambda (whose log
/// agent turns it into metrics); elsewhere (tests, benchmarks) it would only be noise.
pub fn emit_metrics(function: &str, counts: &[(&str, f64)]) {
    if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        println!("{}", emf_line(function, chrono::Utc::now().timestamp_millis(), counts));
    }
}

/// One Embedded Metric Format line: values in namespace `Kairos`, dimension `Function`.
pub fn emf_line(function: &str, timestamp_ms: i64, counts: &[(&str, f64)]) -> String {
    let metrics: Vec<_> = counts.iter().map(|(name, _)| json!({"Name": name, "Unit": "Count"})).collect();
    let mut doc = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{"Namespace": "Kairos", "Dimensions": [["Function"]], "Metrics": metrics}]
        },
        "Function": function,
    });
    if let Some(obj) = doc.as_object_mut() {
        for (name, value) in counts {
            obj.insert((*name).to_string(), json!(value));
        }
    }
    doc.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_lines_declare_every_count() {
        let line = emf_line("ingest", 1_700_000_000_000, &[("EventsApplied", 3.0), ("Duplicates", 1.0)]);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["EventsApplied"], 3.0);
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Metrics"][1]["Name"], "Duplicates");
        assert_eq!(v["Function"], "ingest");
    }
}
