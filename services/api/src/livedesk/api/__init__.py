"""Livedesk api service."""
