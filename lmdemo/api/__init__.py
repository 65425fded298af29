"""HTTP APIs served beside the Gradio page."""
