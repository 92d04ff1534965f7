//! Command handlers: route commands to functions, in a context.

use std::fmt;
use std::sync::Arc;

use crate::command::Command;
use crate::command_error::CommandError;
use crate::data::Data;
use crate::name::Name;

/// A function that carries out one type of command in a context.
pub type CommandFn<C, R, D> = Arc<dyn Fn(&C, &Command<D>) -> Result<R, CommandError> + Send + Sync>;

/// Routes each command to the function for its type, passing a context of
/// the user's type (a repository, configuration, connections).
///
/// A command type with no function is an error
/// ([`CommandError::Unhandled`]), never a silent no-op.
///
/// # Example
///
/// ```
/// use dvent::{Command, CommandError, CommandHandler};
///
/// let handler = CommandHandler::new(10).on("Add", |base: &i64, cmd| {
///     let n = cmd.require("n")?.as_i64().unwrap_or(0);
///     Ok(base + n)
/// });
/// assert_eq!(handler.handle(&Command::new("Add").with_entry("n", 5))?, 15);
/// assert!(matches!(
///     handler.handle(&Command::new("Subtract")),
///     Err(CommandError::Unhandled { .. })
/// ));
/// # Ok::<(), CommandError>(())
/// ```
pub struct CommandHandler<C, R, D = Data> {
    context: C,
    handlers: Vec<(Name, CommandFn<C, R, D>)>,
}

impl<C, R> CommandHandler<C, R, Data> {
    /// A handler for [`Data`] commands over `context`, with no functions yet.
    #[must_use]
    pub fn new(context: C) -> Self {
        CommandHandler::typed(context)
    }
}

impl<C, R, D> CommandHandler<C, R, D> {
    /// A handler for commands with any payload type, over `context`.
    #[must_use]
    pub fn typed(context: C) -> Self {
        CommandHandler {
            context,
            handlers: Vec::new(),
        }
    }

    /// Returns the handler with `function` for `command_type`, replacing any
    /// function that type had.
    #[must_use]
    pub fn on<F>(mut self, command_type: impl Into<Name>, function: F) -> Self
    where
        F: Fn(&C, &Command<D>) -> Result<R, CommandError> + Send + Sync + 'static,
    {
        let command_type = command_type.into();
        self.handlers.retain(|(name, _)| *name != command_type);
        self.handlers.push((command_type, Arc::new(function)));
        self
    }

    /// The context the functions receive.
    #[must_use]
    pub fn context(&self) -> &C {
        &self.context
    }

    /// Whether a function handles `command_type`.
    #[must_use]
    pub fn handles(&self, command_type: &str) -> bool {
        self.find(command_type).is_some()
    }

    /// Carries out `command` with the function for its type.
    ///
    /// Time: O(t) to find the function among t command types, plus the
    /// function's cost.
    ///
    /// # Errors
    ///
    /// [`CommandError::Unhandled`] when no function handles its type;
    /// otherwise whatever the function returns.
    pub fn handle(&self, command: &Command<D>) -> Result<R, CommandError> {
        match self.find(command.command_type()) {
            Some(function) => function(&self.context, command),
            None => Err(CommandError::Unhandled {
                command_type: command.command_type().to_string(),
                handled: self
                    .handlers
                    .iter()
                    .map(|(name, _)| &**name)
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    fn find(&self, command_type: &str) -> Option<&CommandFn<C, R, D>> {
        self.handlers
            .iter()
            .find(|(name, _)| **name == *command_type)
            .map(|(_, function)| function)
    }
}

impl<C: Clone, R, D> Clone for CommandHandler<C, R, D> {
    fn clone(&self) -> Self {
        CommandHandler {
            context: self.context.clone(),
            handlers: self.handlers.clone(),
        }
    }
}

impl<C: fmt::Debug, R, D> fmt::Debug for CommandHandler<C, R, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommandHandler")
            .field("context", &self.context)
            .field(
                "command_types",
                &self.handlers.iter().map(|(n, _)| &**n).collect::<Vec<_>>(),
            )
            .finish()
    }
}
