"""s2st_kit: near-real-time speech-to-speech translation for JupyterLab."""

__version__ = "0.1.0"
