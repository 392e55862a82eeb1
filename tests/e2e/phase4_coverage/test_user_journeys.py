"""Phase 4: whole user journeys, from signing up to reading a conversation back."""

from __future__ import annotations

import concurrent.futures
import secrets

import pytest

from tests.e2e.client import Platform, Session

pytestmark = [pytest.mark.phase(4), pytest.mark.priority("P3"), pytest.mark.area("journey")]


@pytest.mark.area("agent")
@pytest.mark.area("auth", "threads", "agent")
def test_new_user_journey(platform: Platform) -> None:
    """Signup, login, a new thread, one conversation, then the history read back over REST."""
    email, password = platform.unique_email("journey"), secrets.token_urlsafe(16)
    signed_up = platform.signup(email, password)
    login = platform.http.post(
        f"{platform.auth}/auth/login", json={"email": email, "password": password}
    )
    assert login.status_code == 200, f"login: HTTP {login.status_code}"
    body = login.json()
    assert body["user"]["id"] == signed_up.user_id, f"login is user {body['user']}"
    session = Session(email, body["user"]["id"], body["access_token"], body["refresh_token"])
    thread = platform.create_thread(session, "my first thread")
    conversation = platform.converse(
        platform.connect(session), "How do I get started?", thread["id"]
    )
    history = [(m["role"], m["content"]) for m in platform.messages(session, thread["id"])]
    assert history == [("user", "How do I get started?"), ("assistant", conversation.answer)], (
        f"history {history}"
    )


@pytest.mark.area("threads")
def test_new_user_starts_with_no_threads(platform: Platform) -> None:
    """A user who just signed up has an empty thread list, nobody else's threads."""
    session = platform.signup()
    response = platform.http.get(f"{platform.backend}/api/threads", headers=session.headers)
    assert response.status_code == 200, f"HTTP {response.status_code}"
    assert response.json()["threads"] == [], f"threads {response.json()['threads']}"


@pytest.mark.area("agent")
@pytest.mark.area("threads", "agent")
def test_returning_user_finds_the_conversation(platform: Platform) -> None:
    """A user converses, logs in again later, and finds the thread and its history."""
    email, password = platform.unique_email("returning"), secrets.token_urlsafe(16)
    first = platform.signup(email, password)
    conversation = platform.converse(platform.connect(first), "Remember this for later")
    thread_id = conversation.completed["thread_id"]
    login = platform.http.post(
        f"{platform.auth}/auth/login", json={"email": email, "password": password}
    )
    assert login.status_code == 200, f"second login: HTTP {login.status_code}"
    headers = {"authorization": f"Bearer {login.json()['access_token']}"}
    threads = platform.http.get(f"{platform.backend}/api/threads", headers=headers).json()
    assert [t["id"] for t in threads["threads"]] == [thread_id], f"threads {threads}"
    messages = platform.http.get(
        f"{platform.backend}/api/threads/{thread_id}/messages", headers=headers
    ).json()["messages"]
    assert [m["content"] for m in messages] == ["Remember this for later", conversation.answer]


@pytest.mark.area("agent")
@pytest.mark.area("threads", "agent")
def test_two_threads_are_listed_newest_first(platform: Platform) -> None:
    """A user with two conversations sees both threads, the newest first, each with its history."""
    session = platform.signup()
    ws = platform.connect(session)
    older = platform.converse(ws, "First topic").completed["thread_id"]
    newer = platform.converse(ws, "Second topic").completed["thread_id"]
    response = platform.http.get(f"{platform.backend}/api/threads", headers=session.headers)
    assert [t["id"] for t in response.json()["threads"]] == [newer, older], response.text
    assert platform.messages(session, older)[0]["content"] == "First topic"
    assert platform.messages(session, newer)[0]["content"] == "Second topic"


QUESTIONS = {
    "cost": "Our cloud bill doubled last month: where is the spend going?",
    "latency": "Checkout latency is above two seconds since this morning's deploy",
    "incident": "We have an incident: the payments error rate is at five percent",
    "metrics": "Show me the trend of weekly active users in our metrics",
    "how-to": "How do I invite a teammate to our workspace?",
    "release": "Summarise what changed in the last release, please",
}


def _sign_in(platform: Platform) -> tuple[str, str, Session]:
    """A new user: signed up, then signed in with the password (email, password, session)."""
    email, password = platform.unique_email("journey"), secrets.token_urlsafe(16)
    platform.signup(email, password)
    return email, password, _login(platform, email, password)


def _login(platform: Platform, email: str, password: str) -> Session:
    response = platform.http.post(
        f"{platform.auth}/auth/login", json={"email": email, "password": password}
    )
    assert response.status_code == 200, f"login of {email}: HTTP {response.status_code}"
    body = response.json()
    return Session(email, body["user"]["id"], body["access_token"], body["refresh_token"])


def _history(platform: Platform, session: Session, thread_id: str) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in platform.messages(session, thread_id)]


@pytest.mark.area("auth", "threads", "agent", "websocket")
@pytest.mark.parametrize("question", QUESTIONS.values(), ids=QUESTIONS.keys())
def test_new_user_asks_a_first_question(platform: Platform, question: str) -> None:
    """A new user's first question opens their one thread, which holds the question and the
    answer."""
    _, _, session = _sign_in(platform)
    conversation = platform.converse(platform.connect(session), question)
    thread_id = conversation.completed["thread_id"]
    listed = platform.http.get(f"{platform.backend}/api/threads", headers=session.headers)
    assert [t["id"] for t in listed.json()["threads"]] == [thread_id], listed.text
    assert _history(platform, session, thread_id) == [
        ("user", question),
        ("assistant", conversation.answer),
    ]


@pytest.mark.area("threads", "agent", "websocket")
@pytest.mark.parametrize(
    "questions",
    [(QUESTIONS["cost"], QUESTIONS["latency"]), (QUESTIONS["incident"], QUESTIONS["metrics"])],
    ids=["cost-then-latency", "incident-then-metrics"],
)
def test_user_follows_up_in_a_titled_thread(platform: Platform, questions: tuple[str, str]) -> None:
    """Two questions in a thread the user titled: four messages in turn order, title kept."""
    _, _, session = _sign_in(platform)
    thread = platform.create_thread(session, "Weekly review")
    ws = platform.connect(session)
    answers = [platform.converse(ws, q, thread["id"]).answer for q in questions]
    assert _history(platform, session, thread["id"]) == [
        ("user", questions[0]),
        ("assistant", answers[0]),
        ("user", questions[1]),
        ("assistant", answers[1]),
    ]
    detail = platform.http.get(
        f"{platform.backend}/api/threads/{thread['id']}", headers=session.headers
    )
    assert detail.json()["title"] == "Weekly review", f"title now {detail.json()['title']!r}"


@pytest.mark.area("auth", "threads", "agent", "websocket")
def test_user_resumes_on_a_second_device(platform: Platform) -> None:
    """A second sign-in is a second session of the same user that continues the thread."""
    email, password, laptop = _sign_in(platform)
    first = platform.converse(platform.connect(laptop), QUESTIONS["release"])
    thread_id = first.completed["thread_id"]
    phone = _login(platform, email, password)
    assert phone.access_token != laptop.access_token, "the second sign-in reused the token"
    second = platform.converse(platform.connect(phone), QUESTIONS["how-to"], thread_id)
    assert _history(platform, laptop, thread_id) == [
        ("user", QUESTIONS["release"]),
        ("assistant", first.answer),
        ("user", QUESTIONS["how-to"]),
        ("assistant", second.answer),
    ]


@pytest.mark.priority("P4")
@pytest.mark.area("threads", "agent", "websocket")
@pytest.mark.parametrize("notes", [1, 3], ids=["one-note", "three-notes"])
def test_user_adds_notes_then_asks(platform: Platform, notes: int) -> None:
    """Notes posted over REST, then a question over the WebSocket: stored in that order."""
    _, _, session = _sign_in(platform)
    thread = platform.create_thread(session, "Incident notes")
    written = [f"note {i}: the error started at 10:0{i}" for i in range(notes)]
    for note in written:
        posted = platform.http.post(
            f"{platform.backend}/api/threads/{thread['id']}/messages",
            json={"content": note},
            headers=session.headers,
        )
        assert posted.status_code == 201, f"note: HTTP {posted.status_code}"
    conversation = platform.converse(platform.connect(session), QUESTIONS["incident"], thread["id"])
    assert _history(platform, session, thread["id"]) == [
        *[("user", note) for note in written],
        ("user", QUESTIONS["incident"]),
        ("assistant", conversation.answer),
    ]


@pytest.mark.area("auth", "threads", "agent", "websocket")
def test_teammates_work_side_by_side(platform: Platform) -> None:
    """Two new users ask at the same time on their own sessions; each sees only their own
    thread, and the other's is 404 to them."""
    sessions = [_sign_in(platform)[2] for _ in range(2)]
    questions = [QUESTIONS["cost"], QUESTIONS["latency"]]
    sockets = [platform.connect(session) for session in sessions]
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        runs = list(pool.map(platform.converse, sockets, questions))
    threads = [run.completed["thread_id"] for run in runs]
    for session, own, other in zip(sessions, threads, threads[::-1], strict=True):
        listed = platform.http.get(f"{platform.backend}/api/threads", headers=session.headers)
        assert [t["id"] for t in listed.json()["threads"]] == [own], listed.text
        foreign = platform.http.get(
            f"{platform.backend}/api/threads/{other}", headers=session.headers
        )
        assert foreign.status_code == 404, f"a teammate's thread: HTTP {foreign.status_code}"


@pytest.mark.area("threads", "agent", "websocket")
def test_user_cannot_continue_someone_elses_thread(platform: Platform) -> None:
    """A message naming another user's thread is refused on the session and leaves that
    thread as it was; the user's own question goes on to be answered in a thread of theirs."""
    _, _, owner = _sign_in(platform)
    _, _, intruder = _sign_in(platform)
    thread = platform.create_thread(owner, "Payments incident")
    posted = platform.http.post(
        f"{platform.backend}/api/threads/{thread['id']}/messages",
        json={"content": QUESTIONS["incident"]},
        headers=owner.headers,
    )
    assert posted.status_code == 201, f"owner's message: HTTP {posted.status_code}"
    ws = platform.connect(intruder)
    refused = platform.exchange(
        ws, {"type": "user_message", "content": "let me in", "thread_id": thread["id"]}
    )
    assert refused["type"] == "error", f"got {refused}"
    own = platform.converse(ws, QUESTIONS["how-to"]).completed["thread_id"]
    assert own != thread["id"], "the intruder's question went to the owner's thread"
    assert _history(platform, owner, thread["id"]) == [("user", QUESTIONS["incident"])]


@pytest.mark.priority("P4")
@pytest.mark.area("threads")
def test_user_organises_work_in_titled_threads(platform: Platform) -> None:
    """Four threads titled by the user are listed newest first, with those titles."""
    _, _, session = _sign_in(platform)
    titles = ["Q3 budget", "Checkout latency", "Payments incident", "Onboarding ideas"]
    for title in titles:
        platform.create_thread(session, title)
    listed = platform.http.get(f"{platform.backend}/api/threads", headers=session.headers)
    assert [t["title"] for t in listed.json()["threads"]] == titles[::-1], listed.text


@pytest.mark.priority("P4")
@pytest.mark.area("auth")
def test_user_recovers_from_a_taken_email(platform: Platform) -> None:
    """Signing up with a taken email is 409 and leaves its owner's password working; another
    email signs up and signs in."""
    email, password, owner = _sign_in(platform)
    taken = platform.http.post(
        f"{platform.auth}/auth/signup", json={"email": email, "password": "another-password"}
    )
    assert taken.status_code == 409, f"taken email: HTTP {taken.status_code}"
    assert _login(platform, email, password).user_id == owner.user_id, "the owner changed"
    _, _, newcomer = _sign_in(platform)
    assert newcomer.user_id != owner.user_id, "two accounts share an id"
