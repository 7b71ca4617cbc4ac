"""The inbox page with a big inbox: time to a usable list, opening a long conversation, and
the main thread's time per live event (`python -m bench.inbox_page`)."""
