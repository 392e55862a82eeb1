"""Pure context analysis: signatures, filters within Cloud Logging's limit, revision diffs."""

from __future__ import annotations

import datetime as dt
import secrets

from hypothesis import given
from hypothesis import strategies as st

from ci_tools.context import analysis

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_signature_replaces_numbers_ids_hex_and_addresses() -> None:
    """Messages that differ only in variable parts share one signature."""
    one = analysis.signature(
        "Error 111 connecting to 10.0.0.7:6379 for req 3fa85f64-5717-4562-"
        "b3fc-2c963f66afa6 at 0xdeadbeef took 12.5 ms\nTraceback ..."
    )
    two = analysis.signature(
        "Error 113 connecting to 10.0.0.9:6380 for req 00000000-0000-0000-"
        "0000-000000000000 at 0x1 took 3 ms"
    )
    assert one == two == ("Error <n> connecting to <address> for req <uuid> at <hex> took <n> ms")


@given(st.text(max_size=200))
def test_signature_is_one_bounded_line_and_stable(message: str) -> None:
    """Any message gives one line of at most 300 characters, the same every time."""
    sig = analysis.signature(message)
    assert "\n" not in sig
    assert len(sig) <= 300
    assert analysis.signature(message) == sig


_PARTS = (
    "10.0.0.7:6379",
    "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "0xdeadbeef",
    "0XBEEF",
    "deadbeefcafe01",
    "aa:bb:cc:dd:ee:ff",
    "2026-01-01T00:00:00.5Z",
    "12.5",
    "-3",
    "<n>",
    "word",
)


@given(
    st.lists(
        st.tuples(st.sampled_from(_PARTS), st.sampled_from(("", " ", "  ", ".", ":", "-", "x"))),
        min_size=20,
        max_size=120,
    )
)
def test_a_long_line_is_signed_as_if_read_whole(parts: list[tuple[str, str]]) -> None:
    """Reading the first line in pieces (and only as far as the signature needs), skipping
    the normalisers whose text a piece lacks, gives the signature of the whole line read in
    one go by every normaliser, whatever straddles a piece's cut."""
    message = "".join(part + glue for part, glue in parts) + "\nthe next line"
    whole = message.strip().splitlines()[0] if message.strip() else ""
    for pattern, placeholder, _needed in analysis._NORMALISERS:  # every one, over the whole
        whole = pattern.sub(placeholder, whole)
    assert analysis.signature(message) == whole[: analysis.SIGNATURE_CHARS]


def test_trace_filters_split_only_past_the_limit() -> None:
    """100 traces fit in one filter; 1,000 are split, each part under 20,000 characters, all
    traces named once, every part time-bounded."""
    start, end = T0, T0 + dt.timedelta(minutes=5)
    few = [secrets.token_hex(16) for _ in range(100)]
    assert len(analysis.trace_filters("svc", "proj", few, start, end)) == 1
    many = [secrets.token_hex(16) for _ in range(1000)]
    parts = analysis.trace_filters("svc", "proj", many, start, end)
    assert len(parts) > 1
    assert all(len(p) <= analysis.MAX_FILTER_CHARS for p in parts)
    assert all('timestamp>="2026-01-01T00:00:00.000Z"' in p for p in parts)
    named = [t for t in many if sum(f"traces/{t}" in p for p in parts) == 1]
    assert named == many


def test_diff_names_env_changes_never_values() -> None:
    """Added, removed and kind-changed env names, image and scaling changes are reported."""
    old = analysis.parse_revision(
        {
            "name": "x/revisions/s-00001-a",
            "createTime": "t",
            "containers": [
                {
                    "image": "i@sha256:1",
                    "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                }
            ],
            "scaling": {"maxInstanceCount": 1},
        }
    )
    new = analysis.parse_revision(
        {
            "name": "x/revisions/s-00002-b",
            "createTime": "t",
            "containers": [
                {
                    "image": "i@sha256:2",
                    "env": [
                        {
                            "name": "B",
                            "valueSource": {"secretKeyRef": {"secret": "b", "version": "1"}},
                        },
                        {"name": "C", "value": "3"},
                    ],
                }
            ],
            "scaling": {"maxInstanceCount": 5},
        }
    )
    changes = analysis.diff(old, new)
    assert (changes.env_added, changes.env_removed, changes.env_kind_changed) == (
        ("C",),
        ("A",),
        ("B",),
    )
    assert changes.image_changed
    assert changes.scaling_changed
    assert not changes.vpc_changed
    assert "value" not in str(new.env)


def test_timestamps_of_any_precision_compare_as_text() -> None:
    """Nanosecond, microsecond and second precision all normalise to one form."""
    assert analysis.normal_time("2026-01-01T00:00:01.123456789Z") == "2026-01-01T00:00:01.123Z"
    assert analysis.normal_time("2026-01-01T00:00:01Z") == "2026-01-01T00:00:01.000Z"
    assert analysis.normal_time("2026-01-01T01:00:01+01:00") == "2026-01-01T00:00:01.000Z"


def test_an_earlier_deploys_errors_are_not_evidence_about_this_one() -> None:
    """Error entries of a revision older than the serving one are dropped; those of the
    serving revision, of a newer (not ready) one, and unlabelled ones are kept."""

    def revision(name: str, minute: int) -> dict[str, object]:
        return {"name": name, "createTime": f"2026-01-01T00:{minute:02d}:00Z"}

    revisions = [
        analysis.parse_revision(revision(name, minute))
        for name, minute in (("b-1", 0), ("b-2", 10), ("b-3", 20))
    ]

    def entry(revision_name: str | None) -> dict[str, object]:
        labels = {"revision_name": revision_name} if revision_name else {}
        return {"severity": "ERROR", "textPayload": "boom", "resource": {"labels": labels}}

    entries = [entry("b-1"), entry("b-2"), entry("b-3"), entry(None)]
    kept = analysis.from_current_revisions(entries, revisions, revisions[1])
    assert kept == [entry("b-2"), entry("b-3"), entry(None)]
    assert analysis.from_current_revisions(entries, revisions, None) == entries
