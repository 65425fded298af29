"""The Gradio front end: one module per tab, no torch imports."""
