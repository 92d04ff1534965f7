Feature: Todo list
  The example domain of the original notebook: todos are added, change
  status and are removed, through commands handled by a command handler.

  Background:
    Given a Todo command handler over an empty event store

  Scenario: Adding a todo records its description, status and time
    When I add the todo "Buy milk" with status "Queued"
    Then the todo is at version 1
    And the todo's state has "description" "Buy milk", "status" "Queued" and an "added_ts"

  Scenario Outline: A todo's status must be one of Queued, Started and Finished
    When I add the todo "Buy milk" with status "<status>"
    Then the command <outcome>

    Examples:
      | status   | outcome                                                |
      | Queued   | succeeds                                               |
      | Started  | succeeds                                               |
      | Finished | succeeds                                               |
      | Done     | is rejected, naming "Queued, Started, Finished" and "Done" |
      | queued   | is rejected, naming "Queued, Started, Finished" and "queued" |

  Scenario: Changing the status records the new status and when it changed
    Given the todo "Buy milk" with status "Queued"
    When I change the todo's status to "Started"
    Then the todo is at version 2
    And the todo's state has "status" "Started" and a "changed_ts"

  Scenario: Changing a todo to the status it has produces no event
    Given the todo "Buy milk" with status "Queued"
    When I change the todo's status to "Queued"
    Then the todo is at version 1
    And the todo's state has no "changed_ts"

  Scenario: Removing a todo records when it was removed
    Given the todo "Buy milk" with status "Queued"
    When I remove the todo
    Then the todo is at version 2
    And the todo's state has a "removed_ts"

  Scenario: Removing a todo that is already removed produces no event
    Given the todo "Buy milk" with status "Queued"
    When I remove the todo
    And I remove the todo
    Then the todo is at version 2

  Scenario: The notebook's walk-through
    When I add 6 todos with status "Queued"
    Then each of the 6 todos is at version 1
    When I change the status of the last 3 todos to "Started"
    Then each of the last 3 todos is at version 2 with a "changed_ts"
    And all 6 todos read back from the repository with their states
    When I remove the first todo
    Then the first todo is at version 2 with a "removed_ts"
    When I load the last todo, change it to "Queued", "Started" and "Finished", remove it and save it in one go
    Then the last todo is at version 6 with status "Finished" and a "removed_ts"
    And its events are "TodoAdded, TodoStatusChanged, TodoStatusChanged, TodoStatusChanged, TodoStatusChanged, TodoRemoved"
