"""The e-learning reference service on lamina (``python -m examples.learning``), laid out as
the seed's models are: the ``user``, ``course`` and ``learning`` areas, on ``base``."""

from examples.learning import course, learning, user  # every table on LearningBase

__all__ = ["course", "learning", "user"]
