//! # Dvent
//!
//! Simple, immutable, functional models for domain-driven design with event
//! sourcing: domain [`Event`]s and [`Command`]s, [`Aggregate`]s folded from
//! events, an [`EventStore`] interface with optimistic concurrency
//! ([`ExpectedVersion`]), a [`Repository`] and a [`CommandHandler`].
//!
//! Every value is immutable: a change returns a new value. Events, commands
//! and states default to [`Data`], a persistent map of JSON values that shares
//! structure between versions, so a notebook user can work without
//! declaring types; any serde type works in its place.
//!
//! The core is pure and synchronous: folding events and deciding are plain
//! functions over values. I/O lives only in stores.
//!
//! # Example
//!
//! ```
//! use dvent::{Aggregate, AggregateKind, Event, InMemoryEventStore, Repository};
//!
//! // An aggregate kind: a name and an apply map.
//! let todo = AggregateKind::new("Todo")
//!     .on("TodoAdded", |state, event| state.union(event.data().clone()))
//!     .on("TodoStatusChanged", |state, event| {
//!         state.update("status", event.data()["status"].clone())
//!     });
//!
//! // Apply events: each call returns a new aggregate.
//! let item = Aggregate::new(&todo)
//!     .apply(Event::new("TodoAdded").with_entry("description", "Buy milk").with_entry("status", "Queued"))
//!     .apply(Event::new("TodoStatusChanged").with_entry("status", "Started"));
//! assert_eq!(item.uncommitted_version(), 2);
//! assert_eq!(item.state()["status"], "Started");
//!
//! // Save and load through a repository.
//! let repo = Repository::new(InMemoryEventStore::new());
//! let saved = repo.save(&item)?;
//! let loaded = repo.load(&todo, item.id())?.expect("it was saved");
//! assert_eq!(loaded.version(), 2);
//! assert_eq!(loaded, saved);
//! # Ok::<(), Box<dyn std::error::Error>>(())

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod aggregate;
mod aggregate_id;
mod aggregate_kind;
mod command;
mod command_error;
mod data;
pub mod display;
mod event;
mod event_type;
mod execute;
mod expected_version;
mod handler;
mod metadata;
mod name;
pub mod projection;
mod publisher;
mod repository;
pub mod snapshot;
mod stop;
pub mod store;
pub mod subscription;
pub mod testing;
pub mod upcast;

pub use aggregate::Aggregate;
pub use aggregate_id::{AggregateError, AggregateId};
pub use aggregate_kind::{AggregateKind, ApplyFn};
pub use command::Command;
pub use command_error::CommandError;
pub use data::{Data, DataIter, Value, data};
pub use event::Event;
pub use event_type::EventType;
pub use execute::ExecuteError;
pub use expected_version::ExpectedVersion;
pub use handler::{CommandFn, CommandHandler};
pub use metadata::{Cause, Metadata};
pub use name::Name;
pub use projection::{Follower, Projection, ProjectionRunner};
pub use publisher::{PublishError, Publisher};
pub use repository::{DEFAULT_MAX_ATTEMPTS, LOAD_PAGE, LoadError, Repository};
pub use snapshot::{Snapshot, SnapshotError, SnapshotPolicy};
pub use stop::StopHandle;
#[cfg(feature = "postgres")]
pub use store::PostgresEventStore;
#[cfg(feature = "sqlite")]
pub use store::SqliteEventStore;
pub use store::read_model::{ReadModelError, ReadModelProgress};
pub use store::{EventStore, InMemoryEventStore, Recorded, StoreError, StreamInfo};
pub use subscription::{DurableSubscription, Subscription};
pub use upcast::{UpcastError, Upcasters};

/// The README's Rust example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use imbl;
pub use imbl::{Vector, vector};
/// Re-exported so that users need no direct dependency for ids and times.
pub use jiff;
pub use serde_json;
pub use uuid;
