"""`livedesk dev`: the distributed topology on one machine, behind one port.

Provisions a vhost and a database of its own, migrates, makes a demo account, then runs one
api, one presence and two gateways as child processes and a reverse proxy in front of them.
Not for production: docs/operations.md describes that.
"""
