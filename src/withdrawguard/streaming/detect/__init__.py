"""The detector's agents, a batch at a time: decode, load the state, decide with the
engine, write back, send (`pipeline`); what a batch carries (`batch`), writes (`writes`)
and sends (`outputs`); the cross-customer stages (`observation_stages`); where an input
may be decided without the re-key hop (`placement`); the shadow version beside the live
one (`shadow_run`)."""
