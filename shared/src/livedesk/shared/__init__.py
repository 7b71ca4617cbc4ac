"""Livedesk shared contracts: settings, events, routing keys, broker topology and the bus.

Every service depends on this package and on nothing of each other's.
"""
