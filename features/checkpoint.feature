@every_store
Feature: Checkpoints
  A named subscriber keeps its position in the store it reads, beside the
  events (the SQL stores: in a table of their own), so that after a crash or
  a restart it goes on where it stopped. Delivery is at least once: an event
  handled but not yet checkpointed is delivered again.

  Background:
    Given an empty event store

  Scenario: A name never checkpointed starts from the first event
    Given the stream "a" with 2 events
    Then the checkpoint "mailer" is at position 0
    And the durable subscriber "mailer" starts at position 0 and receives positions 1 to 2

  Scenario: A restarted subscriber resumes after its last checkpoint
    Given the stream "a" with 5 events
    When the durable subscriber "mailer" handles 3 events and saves its checkpoint
    And it handles 1 more event without saving its checkpoint, then stops
    And the durable subscriber "mailer" starts again
    Then it receives positions 4 to 5: at least once, position 4 again

  Scenario: Checkpoints of different names are independent
    Given the stream "a" with 4 events
    When the durable subscriber "mailer" handles 3 events and saves its checkpoint
    And the durable subscriber "audit" handles 1 event and saves its checkpoint
    Then the checkpoint "mailer" is at position 3
    And the checkpoint "audit" is at position 1

  Scenario: A checkpoint's name follows the rule for stream ids
    When I save the checkpoint "" at position 3
    Then the checkpoint is refused because its name could not name a stream
    And the checkpoint "" is at position 0
    And a durable subscriber named "" cannot start
