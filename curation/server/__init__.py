"""The embedded Argilla server: argilla-server with a SQLite search engine of ours."""
