@every_store
Feature: Event store
  An event store keeps an append-only, ordered series of events per stream.
  Nothing in it is ever updated or deleted. A writer says which version it
  expects the stream to have, and the store checks it before writing.

  Background:
    Given an empty event store

  Scenario: A store offers get events, save events, get last event and get streams
    Then the store answers every operation on an empty store:
      | operation      | answer    |
      | get events     | no events |
      | get last event | nothing   |
      | get streams    | none      |
      | save events    | saved     |

  Scenario: Saving a new stream creates it with its events
    When I save 2 events to the new stream "order-1"
    Then the stream "order-1" holds those 2 events

  Scenario: Saving again to an existing stream as new fails and saves nothing
    Given the stream "order-1" with 2 events
    When I save 1 event to the new stream "order-1"
    Then the save fails with a version conflict that expected "no stream" and found version 2
    And the stream "order-1" holds 2 events

  Scenario: Events read back from a stream are the ones saved, in order
    Given the stream "order-1" with 3 events
    Then the stream "order-1" holds the events saved to it, in the order saved

  Scenario: Reading a stream that does not exist gives no events
    Then the stream "nowhere" holds 0 events
    And the last event of the stream "nowhere" is nothing

  Scenario: A new event saved to an existing stream comes last
    Given the stream "order-1" with 2 events
    When I save 1 event to the stream "order-1" expecting version 2
    Then the stream "order-1" holds 3 events
    And the last event of the stream "order-1" is the one saved last, at version 3

  Scenario: Saving with the wrong expected version fails and saves nothing
    Given the stream "order-1" with 2 events
    When I save 1 event to the stream "order-1" expecting version 1
    Then the save fails with a version conflict that expected "version 1" and found version 2
    And the stream "order-1" holds 2 events

  Scenario: Streams are listed in the order they were created
    Given the stream "order-1" with 2 events
    And the stream "order-2" with 2 events
    When I list the streams
    Then I get the streams "order-1, order-2" numbered from 0, each with its first event's timestamp

  Scenario: Listing streams from a position skips the streams before it
    Given the streams "s1, s2, s3, s4, s5" with 1 event each
    When I list the streams from position 2
    Then I get the streams "s3, s4, s5" numbered from 2, each with its first event's timestamp

  Scenario: Reading all events gives every event in the order saved
    Given the stream "order-1" with 2 events
    And the stream "order-2" with 2 events
    When I save 1 event to the stream "order-1" expecting version 2
    And I read all events
    Then I get all 5 events in the order they were saved

  Scenario: Reading all events from a position skips the events before it
    Given the stream "order-1" with 2 events
    And the stream "order-2" with 2 events
    When I save 1 event to the stream "order-2" expecting version 2
    And I save 1 event to the stream "order-1" expecting version 2
    And I read all events from position 2
    Then I get the last 4 of the events in the order they were saved
    And the first event read belongs to the stream "order-2" and the last to "order-1"

  Scenario: Every stored event carries its stream id and its version
    Given the stream "order-1" with 3 events
    Then every event of the stream "order-1" carries the stream id "order-1" and versions 1 to 3

  Scenario Outline: Each kind of expected version is checked before writing
    Given the stream "order-1" with 2 events
    When I save 1 event to the stream "<stream>" expecting <expected>
    Then the save <outcome>

    Examples:
      | stream  | expected              | outcome                                                               |
      | order-1 | any version           | succeeds                                                              |
      | order-9 | any version           | succeeds                                                              |
      | order-1 | an existing stream    | succeeds                                                              |
      | order-9 | an existing stream    | fails with a version conflict that expected "an existing stream" and found version 0 |
      | order-9 | no stream             | succeeds                                                              |
      | order-1 | version 2             | succeeds                                                              |
      | order-1 | version 3             | fails with a version conflict that expected "version 3" and found version 2 |

  Scenario: A batch is saved whole or not at all
    Given the stream "order-1" with 1 event
    When I save to the stream "order-2" a new event followed by the first event of "order-1" again
    Then the save fails because that event id is already stored
    And the stream "order-2" holds 0 events
    And there is 1 stream in the store

  Scenario: An event whose version is not its position is refused
    When I save to the new stream "order-1" an event that already has version 7
    Then the save fails because the event should have version 1 but has version 7
    And the stream "order-1" holds 0 events

  Scenario: An empty stream id is refused
    When I save 1 event to the new stream ""
    Then the save fails because the stream id is empty

  Scenario: The publisher is called with each saved event, after the write
    Given an empty event store with a publisher that records events
    When I save 2 events to the new stream "order-1"
    Then the publisher has seen those 2 events, with their stream id and versions

  Scenario Outline: A publisher that fails never undoes the write
    Given an empty event store with a publisher that <misbehaves>
    When I save 2 events to the new stream "order-1"
    Then the save succeeds
    And the stream "order-1" holds those 2 events
    And the publisher's failure was logged for each of them

    Examples:
      | misbehaves      |
      | returns errors  |
      | panics          |
