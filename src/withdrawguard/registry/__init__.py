"""The hold registry: the latest state of every withdrawal, projected into Redis.

`keys` names the Redis keys, `projection` turns an output record and the stored hash
into the new hash (pure), `decision` reads a hash as a payment system's answer, `apply`
feeds records through a store, and `rebuild` replays the compacted topics.
"""
