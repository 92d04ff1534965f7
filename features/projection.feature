@every_store
Feature: Projections and read models
  A projection folds the events of every stream, in the one global order,
  into one state for reading: a name, an initial state and a pure function
  from a state and an event to the next state. A runner catches up with a
  store page by page, follows it live, and rebuilds by going back to the
  initial state at position 0 and replaying every event.

  A read model kept in the store itself moves with its checkpoint: the
  store commits the model's changes for a page of events and the checkpoint
  at the page's last event together, or neither. So the model holds every
  event once, whatever crashes between handling and commit. (The SQL stores
  keep it in tables of the user's in their own database, written in the
  transaction that moves the checkpoint; the memory store keeps it as a
  value by name beside its checkpoint, changed on a copy.)

  The example is the Todo board: how many todos have each status, and which
  are still open, over the events of every todo's stream.

  Background:
    Given an empty event store
    And the todos "Buy milk, Call mum, Pay rent, Old chore" were added as Queued
    And the todo "Call mum" was started
    And the todo "Pay rent" was finished
    And the todo "Old chore" was removed

  Scenario: A projection folds the events of many streams into one state
    When the board projection catches up with the store
    Then the board is at position 7, having applied 7 events
    And the board counts 1 Queued, 1 Started and 1 Finished todo
    And the open todos on the board are "Buy milk, Call mum"
    And the board is the pure fold of every event the store holds, in order

  Scenario: A rebuild gives the state a catch-up gave, also after more events
    Given the board projection caught up with the store
    When the board is rebuilt: reset to position 0 and replayed
    Then the rebuild replayed all 7 events, and the board is as the catch-up left it
    When the todo "Water plants" is added as Queued
    And the todo "Buy milk" is finished
    And the board projection catches up with the store
    Then the board is at position 9, having applied 2 events
    When the board is rebuilt: reset to position 0 and replayed
    Then the rebuild replayed all 9 events, and the board is as the catch-up left it
    And a new runner of the board that catches up gives that same board
    And the board counts 1 Queued, 1 Started and 2 Finished todos

  Scenario: A runner following live sees events saved after it caught up
    Given the board projection follows the store live, caught up to position 7
    When another thread adds the todo "Water plants" as Queued and finishes "Call mum", while the board follows
    Then within 5 seconds the board reaches position 9
    And the board counts 2 Queued, 0 Started and 2 Finished todos
    And the open todos on the board are "Buy milk, Water plants"
    And the follower is still following, and stops without an error

  Scenario Outline: A read model kept in the store is exactly once after a crash between handling and commit
    Given the read model "board", kept in the store with its checkpoint, has handled the events up to position 1
    When the read model "board" crashes <how> on the 6th event of its next page of 10, after handling the ones before it and before the commit
    Then the step failed <how> on the event at position 7, and the read model "board" and its checkpoint are as they were before it, at position 1
    When the read model "board" runs again, as after a restart, 3 events a step until it is up to date
    Then the read model "board" is at position 7, the last event's
    And the read model "board" equals a fresh rebuild: the read model "board-rebuilt" made from position 0 in one go
    And every event was applied to the read model "board" exactly once, though its handler was called twice with positions 2 to 7
    And apart from its count of events applied, the read model "board" is the board the projection folds
    And the read model "board" counts 1 Queued, 1 Started and 1 Finished todo

    Examples:
      | how           |
      | with an error |
      | with a panic  |
