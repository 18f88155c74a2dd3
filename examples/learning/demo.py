"""Demo data, made through the services: an instructor, a student, two courses (one published,
with videos and a quiz), and the student enrolled in it."""

from examples.learning.course import CourseService, QuizService, VideoService
from examples.learning.learning import EnrollmentService
from examples.learning.user import User
from lamina.persistence import Database
from lamina.security import demo_accounts

LOGINS = [("ines", "ines-demo-password"), ("sam", "sam-demo-password")]


async def load_demo(db: Database) -> bool:
    """Create the demo data unless it is there; True if it was created now."""
    users = await demo_accounts(db, User, LOGINS)
    if users is None:
        return False
    ines, sam = users
    courses = CourseService(db, ines)
    price = {"amount": "29.00", "currency": "EUR"}
    sql = await courses.create({"title": "SQL from scratch", "price": price})
    await courses.create({"title": "Advanced indexing", "difficulty": "advanced"})
    for n, title in enumerate(["Tables", "Queries", "Joins"], start=1):
        video = {"title": title, "position": n, "duration_s": 300 * n, "course_id": sql.id}
        await VideoService(db, ines).create({**video, "url": f"https://videos.example/{n}"})
    question = {"prompt": "Which clause filters rows?", "choices": ["WHERE", "HAVING"]}
    quiz = {"title": "Basics", "questions": [{**question, "answer": 0}], "course_id": sql.id}
    await QuizService(db, ines).create(quiz)
    await courses.publish(sql.id)
    await EnrollmentService(db, sam).create({"course_id": sql.id})
    return True
