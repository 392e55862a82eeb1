"""The real-exception corpus: failures raised by real libraries under real conditions, and
verbatim failure texts from public threads, each with the class it belongs to.

``generate`` rewrites ``corpus.jsonl`` (it needs real servers); ``score`` reads both files and
scores the classifier on them (it needs none).
"""
