"""HTTP endpoints served by the worker's web server."""
