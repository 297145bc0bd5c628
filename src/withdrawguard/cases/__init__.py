"""Case work, pure: the events of a case, its state and fold, the commands people give,
inboxes, assignment and SLAs, and suppressions. Nothing here talks to Kafka, Redis, the
web or the clock: "now" is always passed in, and the caller writes the events returned.
docs/cases.md describes the model."""
