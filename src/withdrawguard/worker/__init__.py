"""The worker: the one place where the detector, its sinks, its guards, the policy feed,
health, the console and the decision API are put together (`app.create_app`), and the
`withdrawguard worker` entry point (`run.run_worker`)."""
