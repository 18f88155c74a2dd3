"""A small application for the migration tests: its rows and its own revision history."""
