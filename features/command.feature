Feature: Domain command
  A command is an intent to change the domain, named in the present tense.

  Scenario: A newly generated command exposes all three values
    When I generate a command of type "AddTodo"
    Then the command's type is "AddTodo"
    And the command's timestamp is the current time in UTC
    And the command's data is empty

  Scenario: A command carries the data it was given
    When I generate a command of type "AddTodo" whose "description" is "Buy milk"
    Then the command's "description" is "Buy milk"
