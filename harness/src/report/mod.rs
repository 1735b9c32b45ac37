//! Reporters: each turns the runner's [`events::Event`] stream into one
//! output: the terminal ([`terminal`]), JUnit XML ([`junit`]), a JSON
//! document ([`json`]) and GitHub annotations ([`github`]). A failure's
//! timeline is built by [`timeline`].

pub mod events;
pub mod github;
pub mod json;
pub mod junit;
pub mod terminal;
pub mod timeline;

use std::io;

/// Something that renders the run's events.
pub trait Reporter {
    fn event(&mut self, event: &events::Event) -> io::Result<()>;
}

/// Several reporters fed the same events.
#[derive(Default)]
pub struct Reporters(Vec<Box<dyn Reporter + Send>>);

impl Reporters {
    pub fn push(&mut self, reporter: Box<dyn Reporter + Send>) {
        self.0.push(reporter);
    }

    /// Passes an event to every reporter; returns the first error, after
    /// every reporter has seen the event.
    pub fn event(&mut self, event: &events::Event) -> io::Result<()> {
        let mut first = Ok(());
        for reporter in &mut self.0 {
            if let Err(err) = reporter.event(event)
                && first.is_ok()
            {
                first = Err(err);
            }
        }
        first
    }
}
