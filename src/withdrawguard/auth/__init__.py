"""Console users and roles: the users file with salted scrypt hashes (`users`) and what
each role may do (`roles`). No web server here: the console (`web/console`), the
command line and the demo share it."""
