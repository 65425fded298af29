"""The task playground: classification (zero-shot, few-shot, fine-tune) and summarization."""
