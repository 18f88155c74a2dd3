"""The chat HTTP API: one router per aggregate, each delegating to its service.

Where lamina's ``resource_router`` fits (workspaces, conversations, messages,
recordings, participant lists) it builds the routes; the rest (members by
username, invitations and answers, ending a recording, history pages, the live
stream) are written by hand with the same conventions: problem+json errors,
``{items, next_cursor}`` pages, ``ETag`` on answers and ``If-Match`` on writes.
"""
