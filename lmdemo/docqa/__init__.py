"""Document QA: load files, split them, index passages, answer questions with citations."""
