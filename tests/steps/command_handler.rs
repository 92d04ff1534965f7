//! Steps about command handlers.

use cucumber::{given, then, when};
use dvent::{Command, CommandError, CommandHandler};

use super::world::DventWorld;

#[given(expr = "a command handler whose context is a greeting {string} and which handles {string}")]
fn greeter(world: &mut DventWorld, greeting: String, command_type: String) {
    world.greeter = Some(CommandHandler::new(greeting).on(
        command_type,
        |greeting: &String, command: &Command| {
            Ok(format!("{greeting}, {}", command.require_str("name")?))
        },
    ));
}

fn handle(world: &mut DventWorld, command: Command) {
    let handler = world.greeter.as_ref().expect("a handler was made");
    world.handled = Some(handler.handle(&command));
}

#[when(expr = "I handle a {string} command whose {string} is {string}")]
fn handle_with(world: &mut DventWorld, command_type: String, key: String, value: String) {
    handle(world, Command::new(command_type).with_entry(key, value));
}

#[when(regex = r#"^I handle a "([^"]*)" command(?: with no data)?$"#)]
fn handle_bare(world: &mut DventWorld, command_type: String) {
    handle(world, Command::new(command_type));
}

fn error(world: &DventWorld) -> &CommandError {
    match world.handled.as_ref().expect("a command was handled") {
        Ok(result) => panic!("handling should have failed, got {result:?}"),
        Err(e) => e,
    }
}

#[then(expr = "the result is {string}")]
fn result_is(world: &mut DventWorld, expected: String) {
    match world.handled.as_ref().expect("a command was handled") {
        Ok(result) => assert_eq!(*result, expected),
        Err(e) => panic!("handling failed: {e}"),
    }
}

#[then(
    expr = "handling fails because no function handles {string}, naming the handled types {string}"
)]
fn unhandled(world: &mut DventWorld, command_type: String, handled: String) {
    match error(world) {
        CommandError::Unhandled {
            command_type: t,
            handled: h,
        } => assert_eq!((t, h), (&command_type, &handled)),
        other => panic!("expected an unhandled command error, got {other:?}"),
    }
}

#[then(expr = "handling fails because the {string} command's data {string} is missing")]
fn missing_data(world: &mut DventWorld, command_type: String, key: String) {
    match error(world) {
        CommandError::MissingData {
            command_type: t,
            key: k,
        } => assert_eq!((t, k), (&command_type, &key)),
        other => panic!("expected a missing data error, got {other:?}"),
    }
}
