"""The e-learning reference service: courses, videos, enrollments, progress, reviews, quizzes
and tutor chats, built on lamina's public API (``python -m examples.learning``).

Laid out as the seed's models are: the ``user``, ``course`` and ``learning`` areas, each
with its entities, tables, use cases and routes, on what they share (``base``).
"""

from examples.learning import course, learning, user  # every table on LearningBase

__all__ = ["course", "learning", "user"]
