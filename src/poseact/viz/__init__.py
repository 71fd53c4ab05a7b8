"""Figures and videos: skeleton renders, mp4/gif I/O, per-action and training plots."""
