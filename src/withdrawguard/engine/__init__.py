"""The decision engine: plain Python, no Faust, Kafka, Redis, clock or network.

Typed events and a per-customer state go in; verdicts, holds and alerts come out.
The streaming worker, the history scan and the benchmarks' oracle all use it.
"""
