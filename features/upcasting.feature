@every_store
Feature: Upcasting
  Stored events are never rewritten. When the shape of an event type's data
  changes, its new version comes with a pure function from the old shape to
  the new one (an upcaster); a store given the upcasters runs the chain of
  them on every read, so old events read as the current version.

  Background:
    Given an empty event store

  Scenario: An event saved as version 1 reads as version 3 through two upcasters
    Given upcasters for "TodoAdded" from version 1 to 2 and from 2 to 3
    When I save a "TodoAdded" event of version 1
    Then reading it gives a "TodoAdded" event of version 3 with the data both upcasters made
    And reading every event, a stream and the last event all give version 3
    And the stored event is still version 1

  Scenario: An event whose version has no upcaster to the current one is a typed error
    Given the current version of "TodoAdded" is 3 with an upcaster from 2 to 3 only
    When I save a "TodoAdded" event of version 1
    Then reading it fails with an upcast error naming "TodoAdded", version 1 and version 3
