"""Demo data, made through the services: an instructor, a student, two courses (one published,
with videos and a quiz), and the student enrolled in it."""

from decimal import Decimal

from examples.learning.api import UserOut, UserRegistration
from examples.learning.repositories import Users
from examples.learning.services import CourseService, EnrollmentService, QuizService, VideoService
from lamina.domain import AlreadyExists, use_context, utcnow
from lamina.persistence import Database
from lamina.security import PasswordHasher, Principal, RepositoryAccounts

LOGINS = [("ines", "ines-demo-password"), ("sam", "sam-demo-password")]


async def load_demo(db: Database) -> bool:
    """Create the demo data unless it is there; True if it was created now."""
    accounts, hasher, ids = RepositoryAccounts(db, Users, UserOut), PasswordHasher(), []
    try:
        for name, password in LOGINS:
            form = {"username": name, "email": f"{name}@example.com", "display_name": name.title()}
            registration = UserRegistration.model_validate({**form, "password": password})
            user = await accounts.create_user(registration, await hasher.hash(password))
            ids.append(user.id)  # type: ignore[attr-defined]
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
        await EnrollmentService(db, sam).enroll(sql.id)
    return True
