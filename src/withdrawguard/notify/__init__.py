"""Notification logic without I/O: routing config, message rendering, signing, dedup keys,
rate limits and the retry schedule. `notifier.Notifier` ties them to the channels in
`withdrawguard.adapters.notify`; `withdrawguard.streaming.sinks.notify` runs it."""
