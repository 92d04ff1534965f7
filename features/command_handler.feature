Feature: Command handler
  A command handler routes each command to the function for its type, in a
  context that holds what the functions need.

  Background:
    Given a command handler whose context is a greeting "Hello" and which handles "Greet"

  Scenario: A command goes to the function for its type
    When I handle a "Greet" command whose "name" is "Ada"
    Then the result is "Hello, Ada"

  Scenario: A command type with no function is reported, not ignored
    When I handle a "Wave" command
    Then handling fails because no function handles "Wave", naming the handled types "Greet"

  Scenario: A function's error reaches the caller
    When I handle a "Greet" command with no data
    Then handling fails because the "Greet" command's data "name" is missing
