"""The daily autonomous run: lock, finish earlier runs, decide, persist, send, record."""
