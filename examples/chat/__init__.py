"""The chat reference service: users, workspaces, conversations, participants, messages,
recordings and a live event stream, built only on lamina's public API.

Run it with ``make run`` (or ``python -m examples.chat``).
"""
