"""Vocabularies, the book's question_answer files, tab-separated pairs, and the built-in tasks."""
