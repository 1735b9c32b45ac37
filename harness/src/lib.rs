//! The `fakestripe` harness: the command line, the scenario runner and the
//! fuzzer. The fake server itself lives in the `fakestripe-server` crate.

pub mod cli;
pub mod serve;
