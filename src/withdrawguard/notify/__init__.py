"""Notifications to people: the routing file, message rendering, signing, dedup keys,
rate limits, the bounded backlog and the retry schedule (no I/O), and `notifier.Notifier`
with `delivery.Deliverer`, which queue, send and retry through the channels
(`channel.Channel`, implemented in `withdrawguard.adapters.notify`).
`withdrawguard.streaming.sinks.notify` feeds it the alerts."""
