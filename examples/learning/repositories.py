"""Repositories: which fields each entity can be filtered and sorted by."""

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


class Quizzes(Repository[d.Quiz, r.QuizRow]):
    filterable = ("course_id",)


class Enrollments(Repository[d.Enrollment, r.EnrollmentRow]):
    filterable = ("course_id", "user_id")
    sortable = ("created_at",)


class Progress(Repository[d.VideoProgress, r.VideoProgressRow]):
    filterable = ("course_id", "user_id", "video_id")


class Reviews(Repository[d.Review, r.ReviewRow]):
    filterable = ("course_id", "user_id", "rating")
    sortable = ("created_at", "rating")


class Attempts(Repository[d.QuizAttempt, r.QuizAttemptRow]):
    filterable = ("quiz_id", "user_id")
    sortable = ("created_at",)


class Chats(Repository[d.TutorChat, r.TutorChatRow]):
    filterable = ("course_id", "user_id", "id")


class Messages(Repository[d.ChatMessage, r.ChatMessageRow]):
    filterable = ("chat_id",)
    sortable = ("created_at",)
    default_order = ("created_at",)
