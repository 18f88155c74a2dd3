"""Demo data, made through the services: an instructor, a student, two courses (one published,
with videos and a quiz), and the student enrolled in it."""

from decimal import Decimal

from examples.learning.course import CourseService, QuizService, VideoService
from examples.learning.learning import EnrollmentService
from examples.learning.user import Users
from lamina.domain import AlreadyExists, use_context, utcnow
from lamina.persistence import Database
from lamina.security import PasswordHasher, Principal, RepositoryAccounts

LOGINS = [("ines", "ines-demo-password"), ("sam", "sam-demo-password")]


async def load_demo(db: Database) -> bool:
    """Create the demo data unless it is there; True if it was created now."""
    accounts, ids = RepositoryAccounts(db, Users), []
    try:
        for name, password in LOGINS:
            form = {"username": name, "email": f"{name}@example.com", "display_name": name.title()}
            user = await accounts.register({**form, "password": password}, PasswordHasher())
            ids.append(user.id)
    except AlreadyExists:
        return False
    ines, sam = (Principal(id, frozenset(), utcnow(), "demo") for id in ids)
    with use_context(actor_id=ines.user_id):
        courses = CourseService(db, ines)
        price = {"amount": Decimal("29.00"), "currency": "EUR"}
        sql = await courses.create({"title": "SQL from scratch", "price": price})
        await courses.create({"title": "Advanced indexing", "difficulty": "advanced"})
        for n, title in enumerate(["Tables", "Queries", "Joins"], start=1):
            video = {"title": title, "position": n, "duration_s": 300 * n}
            url = f"https://videos.example/{n}"
            await VideoService(db, ines).create({**video, "course_id": sql.id, "url": url})
        question = {"prompt": "Which clause filters rows?", "choices": ["WHERE", "ORDER BY"]}
        quiz = {"title": "Basics", "questions": [{**question, "answer": 0}]}
        await QuizService(db, ines).create({**quiz, "course_id": sql.id})
        await courses.publish(sql.id)
    with use_context(actor_id=sam.user_id):
        await EnrollmentService(db, sam).create({"course_id": sql.id})
    return True
