@every_store
Feature: Snapshots and reading as of a version
  A long stream loads fast from its latest snapshot and the events after it;
  the result is the aggregate that folding every event gives. A snapshot of
  an older state shape is ignored. An aggregate can also be read as it was
  at an earlier version.

  Background:
    Given an empty event store

  Scenario: Loading with a snapshot equals loading without
    Given a counter aggregate with 25 events, snapshotted every 10 events
    Then loading it uses the snapshot at version 20
    And it equals the counter folded from all 25 events, at version 25

  Scenario: A snapshot made for an older state shape is ignored
    Given a counter aggregate with 25 events, snapshotted every 10 events
    When the kind's snapshot version changes
    Then loading it folds all 25 events, ignoring the snapshots
    And it equals the counter folded from all 25 events, at version 25

  Scenario: Loading an aggregate as it was at a version
    Given a counter aggregate with 25 events, snapshotted every 10 events
    Then loading it at version 13 equals the counter folded from its first 13 events
    And it started from the snapshot at version 10
