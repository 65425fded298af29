"""lmdemo: language models in the browser: chat, document QA, a task playground and a lab."""

__version__ = "0.1.0"
