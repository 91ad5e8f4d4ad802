"""The lecture's Keras examples ported to nnlab's Python API (imports changed, nothing else).

Run one with `python -m engine.examples.<name>`.
"""
