//! The virtual clock. Every timestamp the fake writes (`created`,
//! `expires_at`), every delay and retry, and idempotency-key expiry read the
//! account's clock, so a scenario can move a day forward in a millisecond.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Fastest real-time clock speed accepted: a million virtual seconds,
/// about 11.6 days, per real second.
pub const MAX_SPEED: f64 = 1_000_000.0;

/// How the clock moves.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum ClockMode {
    /// Time moves only when advanced. Due work runs inside the advance, in
    /// time order, so a run is deterministic.
    Manual,
    /// Time follows the wall clock, multiplied by `speed`; due work runs in
    /// the background.
    RealTime { speed: f64 },
}

/// One account's clock.
#[derive(Debug, Clone)]
pub struct Clock {
    mode: ClockMode,
    /// Virtual time, in seconds since the Unix epoch, at `anchor_real`.
    anchor_virtual: f64,
    anchor_real: Instant,
}

impl Clock {
    /// A clock that starts at the current wall-clock time.
    pub fn new(mode: ClockMode) -> Self {
        Clock {
            mode,
            anchor_virtual: wall_clock_seconds(),
            anchor_real: Instant::now(),
        }
    }

    pub fn mode(&self) -> ClockMode {
        self.mode
    }

    /// The current virtual time in whole seconds, as Stripe's timestamps are.
    pub fn now(&self) -> i64 {
        self.now_precise().floor() as i64
    }

    fn now_precise(&self) -> f64 {
        match self.mode {
            ClockMode::Manual => self.anchor_virtual,
            ClockMode::RealTime { speed } => {
                self.anchor_virtual + self.anchor_real.elapsed().as_secs_f64() * speed
            }
        }
    }

    /// Switches mode without a jump in virtual time.
    pub fn set_mode(&mut self, mode: ClockMode) {
        self.anchor_virtual = self.now_precise();
        self.anchor_real = Instant::now();
        self.mode = mode;
    }

    /// Sets the virtual time. Moving backwards is allowed only before
    /// anything was written, which the caller checks.
    pub fn set_now(&mut self, seconds: i64) {
        self.anchor_virtual = seconds as f64;
        self.anchor_real = Instant::now();
    }

    /// How long, in real time, until the virtual clock reaches `at`. `None`
    /// in manual mode, where only an advance gets there.
    pub fn real_wait_until(&self, at: i64) -> Option<std::time::Duration> {
        match self.mode {
            ClockMode::Manual => None,
            ClockMode::RealTime { speed } => {
                let remaining = (at as f64 - self.now_precise()).max(0.0);
                Some(std::time::Duration::from_secs_f64(
                    remaining / speed.max(1e-9),
                ))
            }
        }
    }
}

/// Seconds since the Unix epoch on the machine's clock.
pub fn wall_clock_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_stands_still() {
        let mut clock = Clock::new(ClockMode::Manual);
        clock.set_now(1_000);
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert_eq!(clock.now(), 1_000);
        assert_eq!(clock.real_wait_until(2_000), None);
    }

    #[test]
    fn fast_clock_runs_ahead() {
        let mut clock = Clock::new(ClockMode::RealTime { speed: 1000.0 });
        clock.set_now(0);
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(clock.now() >= 40, "now = {}", clock.now());
    }

    #[test]
    fn mode_switch_keeps_time() {
        let mut clock = Clock::new(ClockMode::Manual);
        clock.set_now(500);
        clock.set_mode(ClockMode::RealTime { speed: 1.0 });
        assert!((500..=501).contains(&clock.now()));
    }
}
