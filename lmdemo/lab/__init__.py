"""The Lab: the inside of the models made visible (tokens, next-token probabilities, attention, embeddings)."""
