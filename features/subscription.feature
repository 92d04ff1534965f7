@every_store
Feature: Catch-up subscriptions
  A subscription reads every event after a position, in the order the store
  committed them: first what is stored, a page at a time, then live, as new
  events commit. It never skips, repeats or reorders an event, and it holds
  at most one page in memory.

  Background:
    Given an empty event store

  Scenario: Catching up from the start delivers every stored event in order
    Given the streams "a, b" with 3 events each
    When I subscribe from position 0, reading pages of 2 events
    Then the subscription delivers positions 1 to 6, in order, once each
    And the events delivered are the ones reading everything gives, in the same order
    And it read the store in pages of at most 2 events, each starting after the last event read

  Scenario: Catching up from a position delivers only the events after it
    Given the streams "a, b" with 3 events each
    When I subscribe from position 4, reading pages of 2 events
    Then the subscription delivers positions 5 to 6, in order, once each

  Scenario: Events saved after the subscriber caught up arrive live
    Given the stream "a" with 2 events
    And a subscriber that caught up from position 0
    When another thread saves 3 events to the new stream "b" while the subscriber waits
    Then the subscriber receives positions 3 to 5 within 5 seconds

  Scenario: A subscription to some streams passes over the others but not their positions
    Given the streams "a, b, c" with 2 events each
    When I subscribe from position 0 to the streams "a, c" only
    Then the subscription delivers the events of "a" then "c", at positions 1, 2, 5, 6
    And the subscription's position is 6

  Scenario: A subscriber waiting for events ends when it is stopped
    Given the stream "a" with 1 event
    And a subscriber that caught up from position 0
    When I stop the subscriber while it waits
    Then the subscriber ends within 1 second, having delivered nothing more
