@every_store
Feature: Repository
  A repository loads aggregates from an event store and saves them to it, so
  that storage is interchangeable. Saving uses optimistic concurrency.

  Background:
    Given a repository over an empty event store
    And a "Todo" aggregate kind whose "TodoAdded" events set the description

  Scenario: A repository offers get aggregate and save aggregate
    Then the repository answers both operations for an aggregate it has never seen:
      | operation      | answer                  |
      | get aggregate  | nothing                 |
      | save aggregate | the aggregate unchanged |

  Scenario: Saving a new aggregate commits its events and it can be read back
    Given a new aggregate
    And I apply a "TodoAdded" event whose "description" is "Buy milk"
    When I save the aggregate through the repository
    Then the aggregate has 1 committed and 0 uncommitted events
    And reading the aggregate back by id gives version 1 with "description" set to "Buy milk"

  Scenario: A new event on an existing aggregate is saved and can be read back
    Given a saved aggregate with 1 event
    When I load the aggregate from the repository
    And I apply a "TodoAdded" event whose "description" is "Sell milk"
    And I save the aggregate through the repository
    Then the aggregate has 2 committed and 0 uncommitted events
    And reading the aggregate back by id gives version 2 with "description" set to "Sell milk"

  Scenario: Two copies of one aggregate: the second save is a conflict
    Given a saved aggregate with 1 event
    And two copies of the aggregate loaded from the repository
    When I apply a "TodoAdded" event to the first copy and save it
    And I apply a "TodoAdded" event to the second copy and save it
    Then the second save fails with a version conflict that expected "version 1" and found version 2
    And reading the aggregate back by id gives version 2 with the first copy's event last

  Scenario: An existing aggregate can be read back by id
    Given a saved aggregate with 3 events
    When I load the aggregate from the repository
    Then the loaded aggregate equals the saved one
    And the aggregate's version is 3 and its uncommitted version is 3

  Scenario: Reading an aggregate that does not exist gives nothing
    When I load an aggregate with an id that was never saved
    Then the repository gives nothing
