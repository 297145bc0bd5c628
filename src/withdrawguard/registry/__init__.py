"""The hold registry: the latest state of every withdrawal, projected into Redis.

`keys` names the Redis keys, `projection` turns an output record and the stored hash
into the new hash (pure), `decision` reads a hash as a payment system's answer, `apply`
feeds records through a store. The sink that runs it in the worker, and the rebuild
that replays the compacted topics, are in `withdrawguard.streaming.sinks`.
"""
