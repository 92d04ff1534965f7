//! The Todo walk-through of the original dvent notebook, with the in-memory
//! store: `cargo run --example todo`.

mod domain;

use domain::{TodoContext, handler, todo_kind};
use dvent::{Aggregate, Command, InMemoryEventStore, Repository};

fn show(label: &str, todo: &Aggregate) {
    println!(
        "{label}: {} version {} {}",
        todo.id(),
        todo.version(),
        dvent::serde_json::to_string(todo.state()).expect("a Data state is JSON")
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let context = TodoContext {
        repository: Repository::new(InMemoryEventStore::new()),
        kind: todo_kind(),
    };
    let todos = handler(context.clone());

    println!("1. Add six todos through the command handler");
    let mut ids = Vec::new();
    for n in 1..=6 {
        let command = Command::new("AddTodo")
            .with_entry("description", format!("Todo number {n}"))
            .with_entry("status", "Queued");
        let todo = todos.handle(&command)?;
        show("   added", &todo);
        ids.push(todo.id());
    }

    println!("2. Change the last three to Started");
    for id in &ids[3..] {
        let command = Command::new("ChangeTodoStatus")
            .with_entry("id", id.to_string())
            .with_entry("status", "Started");
        show("   changed", &todos.handle(&command)?);
    }

    println!("3. Read all six back from the repository");
    for id in &ids {
        let todo = context.repository.get_aggregate(&context.kind, *id)?;
        show("   read", &todo.ok_or("a todo went missing")?);
    }

    println!("4. Remove the first");
    let command = Command::new("RemoveTodo").with_entry("id", ids[0].to_string());
    show("   removed", &todos.handle(&command)?);

    println!("5. Without the handler: load the last, change it three times, remove it, save once");
    let last = context
        .repository
        .get_aggregate(&context.kind, ids[5])?
        .ok_or("the last todo went missing")?;
    show("   loaded", &last);
    let mut todo = last;
    for status in ["Queued", "Started", "Finished"] {
        let decided = domain::change_status(&todo, status)?;
        todo = todo.apply_all(decided);
    }
    let decided = domain::remove(&todo);
    let todo = todo.apply_all(decided);
    println!(
        "   before saving: version {}, uncommitted version {}",
        todo.version(),
        todo.uncommitted_version()
    );
    let todo = context.repository.save_aggregate(&todo)?;
    show("   saved", &todo);

    println!("6. Its events");
    for event in todo.events() {
        println!(
            "   {} {:<18} {} {}",
            event.version(),
            event.event_type(),
            event.timestamp(),
            dvent::serde_json::to_string(event.data())?
        );
    }
    Ok(())
}
