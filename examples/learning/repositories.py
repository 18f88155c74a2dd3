"""Repositories that filter or sort by more than ids and references (``repository_for``
gives the others)."""

from __future__ import annotations

from examples.learning import domain as d
from examples.learning import rows as r
from lamina.persistence import Repository


class Users(Repository[d.User, r.UserRow]):
    filterable = ("username",)


class Courses(Repository[d.Course, r.CourseRow]):
    filterable = {
        "id": ["eq", "in"],
        "difficulty": ["eq"],
        "status": ["eq"],
        "instructor_id": ["eq"],
        "price.amount": ["le", "ge"],
        "price.currency": ["eq"],
        "title": ["icontains"],
        "slug": ["eq"],
    }
    sortable = ("rating", "enrollment_count", "created_at", "price.amount", "title")
    default_order = ("-created_at",)
    derived = ("rating", "enrollment_count")  # kept by the course-stats projection


class Videos(Repository[d.Video, r.VideoRow]):
    filterable = ("course_id", "id")
    sortable = ("position",)
    default_order = ("position",)


class Reviews(Repository[d.Review, r.ReviewRow]):
    filterable = ("course_id", "user_id", "rating")
    sortable = ("created_at", "rating")
