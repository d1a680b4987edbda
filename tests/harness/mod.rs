//! The harness of the integration test binaries (libtest-mimic in place of
//! libtest): a test that needs a part this machine lacks (PostgreSQL, the
//! shared folder, ChromeDriver) is reported *ignored* with the reason, so
//! cargo's own summary line counts it, and a last line per binary says what
//! was skipped and why. `REPLYDESK_REQUIRE_ALL=1` makes every such skip a
//! failure instead: CI installs every part.
//!
//! Tests register themselves with `inventory` from the macros in the test
//! binary, so a test is declared once, where it is written.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Mutex;

use libtest_mimic::{Arguments, Completion, Failed, Trial};

/// Not `Send`: each test's future runs on its own runtime's `block_on`.
pub type BoxFuture = Pin<Box<dyn Future<Output = ()>>>;

/// A part of the machine a test needs, and how to tell that it is missing.
pub struct Need {
    pub what: &'static str,
    /// `Err(why)` when the part is not there.
    pub check: fn() -> Result<(), String>,
}

pub const POSTGRES: Need = Need {
    what: "PostgreSQL",
    check: || match std::env::var("REPLYDESK_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => Ok(()),
        _ => Err("REPLYDESK_TEST_POSTGRES_URL is not set".into()),
    },
};

pub const SHARED: Need = Need {
    what: "../shared",
    check: || {
        if shared_dir().is_dir() {
            Ok(())
        } else {
            Err("../shared (conformance bodies, real replies) is not beside the repository".into())
        }
    },
};

pub fn shared_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

pub fn require_all() -> bool {
    std::env::var("REPLYDESK_REQUIRE_ALL").is_ok_and(|v| v == "1")
}

pub enum Run {
    Sync(fn()),
    /// Runs on its own multi-threaded tokio runtime, as `#[tokio::test]` would.
    Async(fn() -> BoxFuture),
}

/// One registered test.
pub struct Case {
    /// `module_path!()` where the test was declared.
    pub module: &'static str,
    /// The last part of the name (`sqlite`, `postgres`, or the test's own).
    pub name: &'static str,
    pub needs: &'static [&'static Need],
    pub run: Run,
}

inventory::collect!(Case);

impl Case {
    fn full_name(&self) -> String {
        // Drop the binary's own crate name, as libtest does.
        let module = self.module.split_once("::").map_or("", |(_, rest)| rest);
        [module, self.name]
            .into_iter()
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join("::")
    }
}

/// What was skipped, by reason, for the binary's last line.
static SKIPPED: Mutex<BTreeMap<String, usize>> = Mutex::new(BTreeMap::new());

fn trial(case: &'static Case) -> Trial {
    Trial::ignorable_test(case.full_name(), move || {
        for need in case.needs {
            if let Err(why) = (need.check)() {
                if require_all() {
                    return Err(Failed::from(format!(
                        "needs {} and REPLYDESK_REQUIRE_ALL=1 forbids skipping: {why}",
                        need.what
                    )));
                }
                let reason = format!("needs {}: {why}", need.what);
                if let Ok(mut skipped) = SKIPPED.lock() {
                    *skipped.entry(reason.clone()).or_default() += 1;
                }
                return Ok(Completion::ignored_with(reason));
            }
        }
        match &case.run {
            Run::Sync(f) => f(),
            Run::Async(f) => {
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .map_err(|e| Failed::from(format!("cannot start a tokio runtime: {e}")))?;
                runtime.block_on(f());
            }
        }
        Ok(Completion::Completed)
    })
}

/// Runs every registered test the command line selects, then exits.
pub fn main() -> ! {
    let args = Arguments::from_args();
    let mut cases: Vec<&'static Case> = inventory::iter::<Case>.into_iter().collect();
    cases.sort_by_key(|c| c.full_name());
    let trials = cases.into_iter().map(trial).collect();
    let conclusion = libtest_mimic::run(&args, trials);
    if let Ok(skipped) = SKIPPED.lock()
        && !skipped.is_empty()
    {
        for (reason, n) in skipped.iter() {
            println!("SKIPPED {n} test(s): {reason}");
        }
        println!("(REPLYDESK_REQUIRE_ALL=1 turns these skips into failures)");
    }
    conclusion.exit()
}

/// Declares a test in a harness binary, once, where it is written:
/// `test_case! { async fn name() { … } }`, `test_case! { fn name() { … } }`,
/// or with the parts it needs: `test_case! { needs [SHARED] async fn name() { … } }`
/// (any `Need` in scope).
#[macro_export]
macro_rules! test_case {
    ($(needs [$($need:ident),*])? $(#[$meta:meta])* async fn $name:ident() $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            fn run() -> $crate::harness::BoxFuture {
                Box::pin(async move $body)
            }
            inventory::submit!($crate::harness::Case {
                module: module_path!(),
                name: "",
                needs: &[$($(&$need),*)?],
                run: $crate::harness::Run::Async(run),
            });
        }
    };
    ($(needs [$($need:ident),*])? $(#[$meta:meta])* fn $name:ident() $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            fn run() $body
            inventory::submit!($crate::harness::Case {
                module: module_path!(),
                name: "",
                needs: &[$($(&$need),*)?],
                run: $crate::harness::Run::Sync(run),
            });
        }
    };
}
