"""The operator console: server-rendered pages in Indonesian over the three services' operator APIs.
It holds no data of its own (only signed-in sessions, in memory)."""
