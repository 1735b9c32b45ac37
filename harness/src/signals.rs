//! The signals that stop `fakestripe run` and `fakestripe fuzz`: SIGINT
//! (Ctrl-C), SIGTERM and SIGHUP. Without a handler, SIGTERM and SIGHUP end
//! the process at once, and the app it started, which runs in its own
//! process group, keeps running. With these handlers the command stops the
//! app and the fake first, and exits with code 130.

/// A stop signal that the harness received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGINT, which Ctrl-C sends. The first one lets running work finish.
    Interrupt,
    /// SIGTERM, which process managers and `kill` send.
    Terminate,
    /// SIGHUP, sent when the terminal closes.
    Hangup,
}

impl StopSignal {
    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
            StopSignal::Hangup => "SIGHUP",
        }
    }
}

/// Receives the stop signals. Create it before starting the app, so that
/// a signal arriving while the app starts is received instead of ending
/// the process. Needs a running tokio runtime.
#[derive(Debug)]
pub struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hangup: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Installs the handlers. They stay installed until the process exits.
    #[cfg(unix)]
    pub fn listen() -> std::io::Result<StopSignals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// Installs the handler of Ctrl-C, the only stop signal outside Unix.
    #[cfg(not(unix))]
    pub fn listen() -> std::io::Result<StopSignals> {
        Ok(StopSignals {})
    }

    /// Waits for the next stop signal.
    #[cfg(unix)]
    pub async fn recv(&mut self) -> StopSignal {
        // `recv` returns None only after the runtime shuts down, and then
        // no signal will come.
        tokio::select! {
            Some(()) = self.interrupt.recv() => StopSignal::Interrupt,
            Some(()) = self.terminate.recv() => StopSignal::Terminate,
            Some(()) = self.hangup.recv() => StopSignal::Hangup,
            else => std::future::pending().await,
        }
    }

    /// Waits for the next Ctrl-C.
    #[cfg(not(unix))]
    pub async fn recv(&mut self) -> StopSignal {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        StopSignal::Interrupt
    }
}
