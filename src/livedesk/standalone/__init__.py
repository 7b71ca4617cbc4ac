"""`livedesk standalone`: the whole system in one process, on SQLite and the in-memory bus."""
