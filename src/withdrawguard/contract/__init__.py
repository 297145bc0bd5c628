"""The wire: what every side that reads or writes topics shares (docs/contract.md).

- `topics`: topic names, the deployment's prefix, partitioning and the input types;
- `wire`: the codec of the records between the detector's stages, and dead letters;
- `records`: a record on its way to a topic, and the `Produce` function that sends one.

The streaming worker, the console, the scan, the simulator, the registry and the policy
tools import the wire from here, never from each other. No Faust here.
"""
