"""Case work wired: the case service (commands, take next, the detector's news) over a
case store and a producer, the inboxes and case policy it runs with, what it sends to
`case-decisions`, the export, and `withdrawguard cases`. The service knows neither Faust
nor the web: the worker's sinks, the console and the command line all call it."""
