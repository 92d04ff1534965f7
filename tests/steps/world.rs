//! The state one scenario works on.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use cucumber::World;
use dvent::uuid::Uuid;
use dvent::{
    Aggregate, AggregateError, AggregateKind, Command, CommandError, CommandHandler, Event,
    EventStore, Repository, StoreError, StreamInfo,
};

use super::checkpoint::CheckpointSteps;
use super::metadata::MetadataSteps;
use super::migration::MigrationSteps;
use super::projection::ProjectionSteps;
use super::read_model::ReadModelSteps;
use super::snapshot::SnapshotSteps;
use super::subscription::SubscriptionSteps;
use super::upcasting::UpcastingSteps;
use crate::support::stores::{StoreHandle, StoreKind};
use crate::todo_domain::TodoContext;

/// One scenario's world: a fresh store of the kind under test, and what the
/// steps made, did and got.
#[derive(World)]
#[world(init = Self::new)]
pub struct DventWorld {
    pub store_kind: StoreKind,
    pub store: Arc<dyn EventStore>,
    /// The same store with its concrete type, when the scenario made it
    /// with no publisher (for its read models).
    pub store_handle: Option<StoreHandle>,
    pub repository: Repository,
    pub kind: AggregateKind,

    // Events, commands and aggregates made by the steps.
    pub event: Option<Event>,
    pub derived: Option<Event>,
    pub command: Option<Command>,
    pub aggregate: Option<Aggregate>,
    pub kept: Option<Aggregate>,
    pub copies: Vec<Aggregate>,
    pub given_events: Vec<Event>,
    pub given_id: Option<Uuid>,
    pub aggregate_error: Option<AggregateError>,

    // The event store: what was saved (as stored), in the global order.
    pub saved: Vec<Event>,
    pub last_saved: Vec<Event>,
    pub save_error: Option<StoreError>,
    pub save_attempted: bool,
    pub read: Vec<Event>,
    pub streams: Vec<StreamInfo>,
    pub published: Arc<Mutex<Vec<Event>>>,
    pub loaded: Option<Option<Aggregate>>,

    // The command handler.
    pub greeter: Option<CommandHandler<String, String>>,
    pub handled: Option<Result<String, CommandError>>,

    // The Todo domain.
    pub todos: Option<CommandHandler<TodoContext, Aggregate>>,
    pub todo_context: Option<TodoContext>,
    pub todo: Option<Aggregate>,
    pub todo_ids: Vec<Uuid>,
    pub todo_results: HashMap<Uuid, Aggregate>,
    pub todo_error: Option<CommandError>,

    // The read side.
    pub subscriptions: SubscriptionSteps,
    pub checkpoints: CheckpointSteps,
    pub projections: ProjectionSteps,
    pub read_models: ReadModelSteps,

    // Metadata, upcasting, snapshots and migration.
    pub metadata: MetadataSteps,
    pub upcasting: UpcastingSteps,
    pub snapshots: SnapshotSteps,
    pub migration: MigrationSteps,
}

impl DventWorld {
    fn new() -> Self {
        let handle = StoreHandle::open(StoreKind::Memory);
        let store = handle.shared();
        DventWorld {
            store_kind: StoreKind::Memory,
            repository: Repository::from_shared(store.clone()),
            store,
            store_handle: Some(handle),
            kind: AggregateKind::new("Todo").on("StateSet", super::aggregate::set_state_entry),
            event: None,
            derived: None,
            command: None,
            aggregate: None,
            kept: None,
            copies: Vec::new(),
            given_events: Vec::new(),
            given_id: None,
            aggregate_error: None,
            saved: Vec::new(),
            last_saved: Vec::new(),
            save_error: None,
            save_attempted: false,
            read: Vec::new(),
            streams: Vec::new(),
            published: Arc::new(Mutex::new(Vec::new())),
            loaded: None,
            greeter: None,
            handled: None,
            todos: None,
            todo_context: None,
            todo: None,
            todo_ids: Vec::new(),
            todo_results: HashMap::new(),
            todo_error: None,
            subscriptions: SubscriptionSteps::default(),
            checkpoints: CheckpointSteps::default(),
            projections: ProjectionSteps::default(),
            read_models: ReadModelSteps::default(),
            metadata: MetadataSteps::default(),
            upcasting: UpcastingSteps::default(),
            snapshots: SnapshotSteps::default(),
            migration: MigrationSteps::default(),
        }
    }

    /// Switches the scenario to a fresh store of `kind`.
    pub fn use_store(&mut self, kind: StoreKind) {
        let handle = StoreHandle::open(kind);
        self.use_shared_store(kind, handle.shared());
        self.store_handle = Some(handle);
    }

    /// Switches the scenario to `store`, of `kind`.
    pub fn use_shared_store(&mut self, kind: StoreKind, store: Arc<dyn EventStore>) {
        self.store_kind = kind;
        self.store_handle = None;
        self.repository = Repository::from_shared(store.clone());
        self.store = store;
    }

    /// The aggregate the scenario works on.
    pub fn aggregate(&self) -> &Aggregate {
        self.aggregate.as_ref().expect("a step made an aggregate")
    }

    /// Takes the aggregate out, to apply to it.
    pub fn take_aggregate(&mut self) -> Aggregate {
        self.aggregate.take().expect("a step made an aggregate")
    }

    /// The events saved to `stream_id`, as stored, in order.
    pub fn saved_to(&self, stream_id: &str) -> Vec<Event> {
        self.saved
            .iter()
            .filter(|e| e.stream_id() == stream_id)
            .cloned()
            .collect()
    }

    /// Saves `events` to `stream_id`, remembering the outcome.
    pub fn save(
        &mut self,
        stream_id: &str,
        events: dvent::Vector<Event>,
        expected: dvent::ExpectedVersion,
    ) {
        self.save_attempted = true;
        match self.store.append(stream_id, &events, expected) {
            Ok(stored) => {
                self.saved.extend(stored.iter().cloned());
                self.last_saved = stored;
                self.save_error = None;
            }
            Err(e) => {
                self.last_saved = events.into_iter().collect();
                self.save_error = Some(e);
            }
        }
    }

    /// The error of the last save, which must have failed.
    pub fn save_error(&self) -> &StoreError {
        assert!(self.save_attempted, "no save was attempted");
        self.save_error
            .as_ref()
            .expect("the last save should have failed, but it succeeded")
    }
}

impl fmt::Debug for DventWorld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DventWorld")
            .field("store", &self.store_kind.name())
            .field("aggregate", &self.aggregate)
            .field("saved", &self.saved.len())
            .field("save_error", &self.save_error)
            .finish_non_exhaustive()
    }
}
