Feature: Aggregate
  An aggregate has an identity, a kind and an ordered series of events. Its
  state is folded from its events by the functions of its kind. It collects
  the events it produces but does not save them.

  Background:
    Given a "Todo" aggregate kind whose "TodoAdded" events set the description

  Scenario: A new aggregate has an id, a type, events, uncommitted events and a state
    When I generate a new aggregate
    Then the aggregate's id is a new UUID, unique, ordered by the time it was made
    And the aggregate's type is "Todo"
    And the aggregate has 0 committed and 0 uncommitted events
    And the aggregate's state is empty
    And the aggregate's version is 0 and its uncommitted version is 0

  Scenario: Applying an event adds it to the uncommitted events
    Given a new aggregate
    When I apply a "TodoAdded" event
    Then the aggregate has 0 committed and 1 uncommitted events
    And its last uncommitted event is the one applied

  Scenario: Applying an event raises the uncommitted version by one
    Given an aggregate with 2 committed "TodoTouched" events
    When I apply a "TodoAdded" event
    Then the aggregate's version is 2 and its uncommitted version is 3

  Scenario: Applying an event and marking events committed raises the committed version
    Given an aggregate with 2 committed "TodoTouched" events
    When I apply a "TodoAdded" event
    And I mark the aggregate's events committed
    Then the aggregate's version is 3 and its uncommitted version is 3
    And the aggregate has 3 committed and 0 uncommitted events

  Scenario: Applying an event whose function changes the state changes the state
    Given a new aggregate
    When I apply a "TodoAdded" event whose "description" is "Buy milk"
    Then the aggregate's state has "description" set to "Buy milk"

  Scenario: An event type with no function leaves the state as it is
    Given a new aggregate
    When I apply a "TodoAdded" event whose "description" is "Buy milk"
    And I apply a "TodoTouched" event whose "description" is "Sell milk"
    Then the aggregate's state has "description" set to "Buy milk"
    And the aggregate's version is 0 and its uncommitted version is 2

  Scenario: Applying events leaves the aggregate applied to unchanged
    Given a new aggregate
    When I keep a copy of the aggregate
    And I apply 3 "TodoAdded" events
    Then the kept copy has 0 committed and 0 uncommitted events
    And the aggregate has 0 committed and 3 uncommitted events

  Scenario: Folding many events numbers them one by one
    Given a new aggregate
    When I apply 1000 "TodoAdded" events
    Then the uncommitted events have versions 1 to 1000

  Scenario: An aggregate is rebuilt from an id and its events
    Given 3 "TodoAdded" events with versions 1 to 3, the last with "description" "Walk the dog"
    When I rebuild an aggregate from a given id and those events
    Then the aggregate has that id
    And the aggregate has 3 committed and 0 uncommitted events
    And the aggregate's version is 3 and its uncommitted version is 3
    And the aggregate's state has "description" set to "Walk the dog"

  Scenario: Setting one key of the state gives a new aggregate
    Given a new aggregate
    When I keep a copy of the aggregate
    And I set the state's "status" to "Queued"
    Then the aggregate's state has "status" set to "Queued"
    And the kept copy's state is empty
    And saving and reloading the aggregate gives the same state and version

  Scenario: A given id that is not a UUID is a clear error
    When I generate an aggregate with the id "todo-1"
    Then it fails with an invalid id error that names "todo-1"

  Scenario: A given id that is a UUID is kept
    When I generate an aggregate with the id "67e55044-10b1-426f-9247-bb680e5fe0c8"
    Then the aggregate's id is "67e55044-10b1-426f-9247-bb680e5fe0c8"
