//! Steps about domain commands.

use cucumber::{then, when};
use dvent::Command;

use super::is_now;
use super::world::DventWorld;

#[when(expr = "I generate a command of type {string}")]
fn generate_command(world: &mut DventWorld, command_type: String) {
    world.command = Some(Command::new(command_type));
}

#[when(expr = "I generate a command of type {string} whose {string} is {string}")]
fn generate_command_with(world: &mut DventWorld, command_type: String, key: String, value: String) {
    world.command = Some(Command::new(command_type).with_entry(key, value));
}

fn command(world: &DventWorld) -> &Command {
    world.command.as_ref().expect("a command was generated")
}

#[then(expr = "the command's type is {string}")]
fn command_type_is(world: &mut DventWorld, expected: String) {
    assert_eq!(command(world).command_type(), expected);
}

#[then("the command's timestamp is the current time in UTC")]
fn command_timestamp_is_now(world: &mut DventWorld) {
    assert!(is_now(command(world).timestamp()));
}

#[then("the command's data is empty")]
fn command_data_is_empty(world: &mut DventWorld) {
    assert!(command(world).data().is_empty());
}

#[then(expr = "the command's {string} is {string}")]
fn command_value(world: &mut DventWorld, key: String, value: String) {
    assert_eq!(
        command(world).require_str(&key).expect("the key is there"),
        value
    );
}
