"""The model-serving layer: knows torch and transformers, knows nothing of Gradio."""
