//! Writing to stdout and stderr without panicking once the reader is gone.
//!
//! `println!` and `eprintln!` panic when a write fails, and a write to a
//! pipe whose reading end is closed (`fakestripe run | head`) fails with
//! EPIPE. The Rust runtime ignores SIGPIPE, and the process keeps it that
//! way because it also runs an HTTP server and clients. So every print of
//! the command line goes through `outln!`, `errln!`, [`stdout`] or
//! [`stderr`], which drop output to a closed pipe.

use std::io::{self, Stderr, Stdout, Write};

/// A writer that discards everything after the first EPIPE. Other write
/// errors still reach the caller.
#[derive(Debug)]
pub struct PipeSafeWriter<W> {
    inner: W,
    closed: bool,
}

impl<W: Write> PipeSafeWriter<W> {
    pub fn new(inner: W) -> Self {
        PipeSafeWriter {
            inner,
            closed: false,
        }
    }
}

impl<W: Write> Write for PipeSafeWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        match self.inner.write(buf) {
            Err(err) if err.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(buf.len())
            }
            other => other,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        match self.inner.flush() {
            Err(err) if err.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            other => other,
        }
    }
}

/// Returns the process's stdout, discarding output once the reader is gone.
pub fn stdout() -> PipeSafeWriter<Stdout> {
    PipeSafeWriter::new(io::stdout())
}

/// Returns the process's stderr, discarding output once the reader is gone.
/// It also serves as the `tracing` writer.
pub fn stderr() -> PipeSafeWriter<Stderr> {
    PipeSafeWriter::new(io::stderr())
}

/// Prints a line to stdout like `println!`, but does not panic when the
/// write fails. Output to a closed pipe is dropped, and other write errors
/// are ignored because there is nowhere left to report them.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(
            $crate::output::PipeSafeWriter::new(std::io::stdout().lock()),
            $($arg)*
        );
    }};
}

/// Prints a line to stderr like `eprintln!`, but does not panic when the
/// write fails, as `outln!` does for stdout.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(
            $crate::output::PipeSafeWriter::new(std::io::stderr().lock()),
            $($arg)*
        );
    }};
}

pub(crate) use {errln, outln};

/// Returns the default log filter of `run` and `fuzz`: warnings, but none
/// of the fake that the command starts in its own process unless
/// `verbose`. The fake's lines, such as a webhook delivery that gave up
/// after its last retry, repeat what the timeline of a failed scenario
/// shows, and on a terminal they would fall between the results.
pub fn command_log_filter(verbose: bool) -> &'static str {
    if verbose {
        "warn"
    } else {
        "warn,fakestripe_server=off"
    }
}

/// Sends log lines to stderr, at `default_filter` unless `RUST_LOG` sets
/// another, coloured only when stderr is a terminal and `NO_COLOR` is unset.
/// Logs go to stderr so stdout carries only what scripts read.
pub fn init_tracing(default_filter: &str) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let colour = io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_ansi(colour)
        .with_env_filter(filter)
        .with_writer(stderr)
        // The fallback for a failed write is `eprintln!`, which panics.
        .log_internal_errors(false)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that fails every call with one error kind.
    struct Failing(io::ErrorKind);

    impl Write for Failing {
        fn write(&mut self, _buf: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(self.0))
        }

        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::from(self.0))
        }
    }

    #[test]
    fn broken_pipe_is_discarded() {
        let mut writer = PipeSafeWriter::new(Failing(io::ErrorKind::BrokenPipe));
        assert_eq!(writer.write(b"line\n").unwrap(), 5);
        assert!(writer.flush().is_ok());
        assert!(writeln!(writer, "another line").is_ok());
    }

    #[test]
    fn other_errors_reach_caller() {
        let mut writer = PipeSafeWriter::new(Failing(io::ErrorKind::StorageFull));
        let err = writer.write(b"line\n").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::StorageFull);
    }
}
