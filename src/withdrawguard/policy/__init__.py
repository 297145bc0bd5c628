"""Policy as data: the packaged default (default.toml), versions on the policies topic
(`versions`, `log`), what an admin may do with them (`actions`, `cli`), the engines a
worker runs (`engines`), and live against shadow (`shadow`, `shadow_tally`)."""
