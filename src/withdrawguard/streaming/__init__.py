"""The Faust layer: app factory, topics, agents. Thin by design: decisions live in
`withdrawguard.engine`."""
