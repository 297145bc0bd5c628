"""Feeds of the control topics: every worker follows them whole, without a consumer
group (`reader`). `engine_feed` names the policy versions the pipeline decides with;
`policy_feed` is what the console's policy page shows (the catalog, live against
shadow)."""
