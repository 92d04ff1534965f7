@every_store
Feature: Event metadata
  Every event carries metadata beside its data: a correlation id that ties
  together everything one request set off, a causation id naming the
  command or event that caused it, and a few entries of the user's own (who,
  which tenant). The store keeps it and gives it back as it was.

  Background:
    Given an empty event store

  Scenario: Metadata saved with an event reads back as it was
    When I save an event with a correlation id, a causation id and the entries "user" "ada" and "tenant" "acme"
    Then reading it back gives the same correlation id, causation id and entries

  Scenario: An event caused by a command carries the command's correlation and names the command
    Given a command "AddTodo" with a correlation id
    When an event is made as caused by the command
    And a second event is made as caused by that event
    Then the first event's causation id is the command's id
    And the second event's causation id is the first event's id
    And both carry the command's correlation id
    And after saving and reading them back the chain is the same
