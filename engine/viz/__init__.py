"""Presentation: figures with matplotlib (plots.py) and charts drawn as text in a terminal (textplot.py)."""
