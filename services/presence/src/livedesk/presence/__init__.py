"""Livedesk presence service."""
