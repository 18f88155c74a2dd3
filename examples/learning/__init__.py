"""The e-learning reference service: courses, videos, enrollments, progress, reviews, quizzes
and tutor chats, built on lamina's public API (``python -m examples.learning``)."""
