//! The Todo walk-through of the original dvent notebook, on the typed
//! domain of `domain.rs` and the in-memory store:
//! `cargo run --example todo`.
//!
//! Every change goes through `Repository::execute`: it loads the todo, runs
//! the pure decision on it and saves the events the decision returns.
//!
//! Step 6 reads a todo stored by an earlier release of this example, whose
//! `TodoAdded` (payload version 1) had no due date: an SQLite file gets
//! that JSON as it was written then, and the typed store over the same
//! file, given the domain's upcasters, reads it as version 2.

mod domain;

use domain::{
    Status, TodoAggregate, TodoCommand, TodoEvent, decide, decide_all, todo_kind, upcasters,
};
use dvent::jiff::civil::date;
use dvent::serde_json::{Value, json};
use dvent::uuid::Uuid;
use dvent::{
    Event, EventStore, ExecuteError, ExpectedVersion, InMemoryEventStore, Repository,
    SqliteEventStore, vector,
};

fn show(label: &str, todo: &TodoAggregate) {
    println!(
        "{label}: {} version {} {}",
        todo.id(),
        todo.version(),
        dvent::serde_json::to_string(todo.state()).expect("a Todo state is JSON")
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Every store of TodoEvent reads through the domain's upcasters.
    let repository =
        Repository::new(InMemoryEventStore::<TodoEvent>::default().with_upcasters(upcasters()));
    let kind = todo_kind();

    println!("1. Add six todos through Repository::execute; the third is due on 2025-07-01");
    let mut ids = Vec::new();
    for n in 1..=6 {
        let add = TodoCommand::Add {
            description: format!("Todo number {n}"),
            status: Status::Queued,
            due: (n == 3).then(|| date(2025, 7, 1)),
        };
        let todo = repository.execute(&kind, Uuid::new_v4(), |todo| decide(todo, &add))?;
        show("   added", &todo);
        ids.push(todo.id());
    }

    println!("2. Change the last three to Started");
    let start = TodoCommand::ChangeStatus {
        status: Status::Started,
    };
    for id in &ids[3..] {
        show(
            "   changed",
            &repository.execute(&kind, *id, |todo| decide(todo, &start))?,
        );
    }

    println!("3. Read all six back from the repository");
    for id in &ids {
        let todo = repository.load(&kind, *id)?;
        show("   read", &todo.ok_or("a todo went missing")?);
    }

    println!("4. Remove the first");
    let removed = repository.execute(&kind, ids[0], |todo| decide(todo, &TodoCommand::Remove))?;
    show("   removed", &removed);

    println!("5. Rename the second; an empty description is refused");
    let rename = |description: &str| TodoCommand::Rename {
        description: description.to_string(),
    };
    let renamed = repository.execute(&kind, ids[1], |todo| {
        decide(todo, &rename("Todo number 2, renamed"))
    })?;
    show("   renamed", &renamed);
    match repository.execute(&kind, ids[1], |todo| decide(todo, &rename("  "))) {
        Err(ExecuteError::Domain(error)) => println!("   refused: {error}"),
        other => return Err(format!("an empty description was not refused: {other:?}").into()),
    }

    println!("6. A todo stored by an earlier release: TodoAdded version 1, without `due`");
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("todos.sqlite");
    let old_id = Uuid::new_v4();
    // As the earlier release wrote it: its JSON, at payload version 1.
    let v1 = json!({"Added": {"description": "Todo of an earlier release", "status": "Queued"}});
    let stored = SqliteEventStore::<Value>::open(&path)?.append(
        &old_id.to_string(),
        &vector![Event::typed("TodoAdded", v1)],
        ExpectedVersion::NoStream,
    )?;
    println!(
        "   stored: payload version {} {}",
        stored[0].data_version(),
        stored[0].data()
    );
    // The same file, typed and upcasting: version 1 reads as version 2.
    let typed =
        Repository::new(SqliteEventStore::<TodoEvent>::open(&path)?.with_upcasters(upcasters()));
    let old = typed
        .load(&kind, old_id)?
        .ok_or("the todo of an earlier release went missing")?;
    let added = &old.events()[0];
    println!(
        "   read: payload version {} {:?}",
        added.data_version(),
        added.data()
    );
    show("   loaded", &old);

    println!(
        "7. One decision for four commands: change the last three times, remove it, save once"
    );
    let loaded = repository
        .load(&kind, ids[5])?
        .ok_or("the last todo went missing")?;
    show("   loaded", &loaded);
    let commands = [Status::Queued, Status::Started, Status::Finished]
        .map(|status| TodoCommand::ChangeStatus { status })
        .into_iter()
        .chain([TodoCommand::Remove])
        .collect::<Vec<_>>();
    let todo = repository.execute(&kind, ids[5], |todo| decide_all(todo, &commands))?;
    println!(
        "   decided {} events on version {}, saved in one go",
        todo.version() - loaded.version(),
        loaded.version()
    );
    show("   saved", &todo);

    println!("8. Its events (version, type, payload version, time, payload)");
    for event in todo.events() {
        println!(
            "   {} {:<18} v{} {:.3} {}",
            event.version(),
            event.event_type(),
            event.data_version(),
            event.timestamp(),
            dvent::serde_json::to_string(event.data())?
        );
    }
    Ok(())
}
