"""The store: every write the API makes, each committed with the events it emits, written
once per database. Routes, the fast message route and the relay call it; none of them
knows which database is in use.

`base.Store` is the interface (and the writes whose SQL both databases share);
`postgres.PostgresStore` and `sqlite.SqliteStore` add what differs; `choice.store_for`
picks one for an engine. Not here: building the engine (`db`), reads that write nothing
(routes and `queries`, inside `Store.snapshot()`), and publishing (`relay`).
"""
