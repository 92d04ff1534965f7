@durable_stores
Feature: Migrating a store made by version 1
  A store made by the previous release (dvent 0.2, store schema version 1)
  opens with this release, which migrates it to schema version 2 in one
  transaction and keeps every event as it was.

  This applies to the durable stores only, and runs once for each of them
  (SQLite, PostgreSQL): the memory store keeps nothing between runs, so it
  has no stored schema to migrate. On SQLite the store is a copy of the file
  0.2 wrote (tests/fixtures/v1.sqlite); on PostgreSQL it is a schema made
  with 0.2's DDL holding the same events (tests/fixtures/v1.json).

  Scenario: A store made by version 1 opens and migrates
    Given a store made by version 1, at schema version 1
    When this version opens it
    Then every event reads back with its original id, stream, version, position, timestamp and data
    And the store is now at schema version 2
    And it takes a new event with metadata and reads it back
