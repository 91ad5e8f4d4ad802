"""The lecture's material as code: its experiments and demos (experiments.py), the GAN training loop (gan.py)
and its Keras examples ported to nnlab's Python API (digits_cnn.py; run with `python -m engine.lecture.digits_cnn`).
"""
