//! The living specification: runs the Gherkin features in `features/`.
//!
//! The features about the event store, the repository and the read side
//! (tagged `@every_store`) run once for every store the build has; those
//! about what a store keeps between releases (tagged `@durable_stores`: the
//! migration of a stored schema) run once for every durable store the build
//! has (SQLite, PostgreSQL), with the `@every_store` features of that store;
//! the rest run once.
//! A failed, skipped or undefined step fails the run.
//!
//! Cargo passes its own arguments (`cargo test NAME`, `-- --nocapture`):
//! flags are ignored, and a bare word filters scenarios by name, as it
//! filters unit tests.

mod log_capture;
mod steps;
mod support;

// The Todo domain of `cargo run --example todo`; the steps use most of it.
#[allow(dead_code)]
#[path = "support/todo_domain.rs"]
mod todo_domain;

use std::process::ExitCode;

use cucumber::writer::Stats as _;
use cucumber::{World as _, cli};
use futures::FutureExt as _;

use steps::world::DventWorld;
use support::stores::{StoreKind, store_kinds};

/// Libtest flags that take a value, so that the value is not read as a
/// name filter.
const FLAGS_WITH_VALUES: [&str; 7] = [
    "--test-threads",
    "--skip",
    "--logfile",
    "--color",
    "--format",
    "--shuffle-seed",
    "-Z",
];

fn name_filters() -> Vec<String> {
    let mut filters = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if FLAGS_WITH_VALUES.contains(&arg.as_str()) {
            args.next();
        } else if !arg.starts_with('-') {
            filters.push(arg);
        }
    }
    filters
}

/// The features a run takes.
#[derive(Clone, Copy)]
enum Scope {
    /// The untagged features: the model, on the memory store.
    Model,
    /// The features for a store of this kind: `@every_store`, and for a
    /// durable kind `@durable_stores` too.
    Store(StoreKind),
}

impl Scope {
    /// Whether a feature with these tags runs in this scope.
    fn takes(self, tags: &[String]) -> bool {
        let every_store = tags.iter().any(|t| t == "every_store");
        let durable_stores = tags.iter().any(|t| t == "durable_stores");
        match self {
            Scope::Model => !every_store && !durable_stores,
            Scope::Store(kind) => every_store || (durable_stores && kind.is_durable()),
        }
    }
}

/// Runs the features of `scope` on a store of `kind`. Returns whether
/// anything failed.
fn run(kind: StoreKind, scope: Scope, filters: &[String]) -> bool {
    let filters = filters.to_vec();
    let features = concat!(env!("CARGO_MANIFEST_DIR"), "/features");
    let writer = futures::executor::block_on(
        DventWorld::cucumber()
            .with_cli(cli::Opts::<_, _, _, cli::Empty>::default())
            .max_concurrent_scenarios(8)
            .fail_on_skipped()
            .before(move |_, _, _, world| {
                world.use_store(kind);
                async {}.boxed_local()
            })
            .filter_run(features, move |feature, _, scenario| {
                scope.takes(&feature.tags)
                    && (filters.is_empty()
                        || filters.iter().any(|f| scenario.name.contains(f.as_str())))
            }),
    );
    writer.execution_has_failed() || writer.parsing_errors() > 0 || writer.hook_errors() > 0
}

fn main() -> ExitCode {
    log_capture::install();
    let filters = name_filters();
    let kinds = match store_kinds() {
        Ok(kinds) => kinds,
        Err(message) => {
            eprintln!("features: {message}");
            return ExitCode::FAILURE;
        }
    };

    println!("== Gherkin features: the model (events, commands, aggregates, handler, Todo) ==");
    let mut failed = run(StoreKind::Memory, Scope::Model, &filters);
    for kind in kinds {
        let durable = if kind.is_durable() {
            ", and for durable stores: migration"
        } else {
            ""
        };
        println!(
            "== Gherkin features for every store: event store, repository and read side{durable} on `{}` ==",
            kind.name()
        );
        failed |= run(kind, Scope::Store(kind), &filters);
    }
    if failed {
        eprintln!("features: some scenarios failed, were skipped or had undefined steps");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
