Feature: Domain event
  An event is something that happened in the domain, named in the past tense.
  It is an immutable value: changing it gives a new event.

  Scenario: A newly generated event exposes all six values
    When I generate an event of type "TodoAdded"
    Then the event's type is "TodoAdded"
    And the event's id is a new UUID, unique, ordered by the time it was made
    And the event has no stream id yet
    And the event's timestamp is the current time in UTC
    And the event's data is empty
    And the event's version is 0

  Scenario: Changing an event gives a new event and leaves the original as it was
    Given an event of type "TodoAdded" whose "status" is "Queued"
    When I derive an event whose "status" is "Started"
    Then the derived event's "status" is "Started"
    And the original event's "status" is still "Queued"
    And both events have the same id
