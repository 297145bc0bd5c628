"""Sinks: consumer groups of their own that write what the detector emits outside Kafka,
committing only what is done (`offsets`): the hold registry in Redis (`registry`, with
its retry loop `registry_retry`, and `registry_rebuild` for a registry rebuilt from the
topics) and notifications to people (`notify`). `consumer.SinkConsumer` is what they
share; `consumer` says why a sink is not a Faust agent."""
