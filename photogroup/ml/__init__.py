"""Models: the only package that imports TensorFlow, Keras or mtcnn, always lazily.

Modules here import TensorFlow inside functions or at the top of modules that
are themselves imported only when a model is needed (see `registry`).
"""
