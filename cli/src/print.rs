//! Standard output as a pipe's reader expects it: when the reader has gone (`kairos profile … |
//! head`), the command stops quietly instead of failing or panicking.

use std::fmt::Display;
use std::io::{ErrorKind, Write};

/// Writes one line to standard output.
pub fn out(text: impl Display) {
    let result = writeln!(std::io::stdout().lock(), "{text}");
    if let Err(e) = result {
        gone_or_fail(&e);
    }
}

/// Writes text as it is (no newline added).
pub fn raw(text: impl Display) {
    let result = write!(std::io::stdout().lock(), "{text}");
    if let Err(e) = result {
        gone_or_fail(&e);
    }
}

/// After a failed write to standard output: a reader that went away ends the command
/// successfully; anything else is reported.
pub fn gone_or_fail(e: &std::io::Error) {
    if e.kind() == ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("kairos: cannot write to standard output: {e}");
    std::process::exit(2);
}

/// Maps a CSV writer's error, treating a reader that went away as the end of the output.
pub fn csv_error(e: csv::Error) -> String {
    if let csv::ErrorKind::Io(io) = e.kind() {
        if io.kind() == ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
    e.to_string()
}
