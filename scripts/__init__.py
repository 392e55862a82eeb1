"""Helpers for people: the docs' examples (``generate_docs``) and worklog screenshots
(``screenshot_worklog``); ``nox -s docs`` runs them. Not part of the package."""
