"""The Faust layer, thin by design: decisions live in `withdrawguard.engine`.

- `app`: the Faust app with its topics, tables and the detector's agents;
- `detect/`: the agents, a batch at a time, and what a batch writes and sends;
- `sinks/`: consumers that project the outputs into Redis and to people;
- `control/`: feeds of the control topics (policy versions, the policy page);
- `guards/`: what notices a stalled partition or restore and resumes it;
- `monitoring`: `/metrics`, consumer lag and table sizes;
- `faust_internals/`: every use of Faust's and aiokafka's private names, installed
  for this app through Faust's own extension points.

The worker's wiring point, which adds the web layer, is `withdrawguard.worker.app`.
"""
