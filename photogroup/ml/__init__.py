"""Models: the only package that imports TensorFlow, Keras or mtcnn, always lazily.

Modules here import TensorFlow inside functions or at the top of modules that
are themselves imported only when a model is needed (see `registry`).
"""

import os

# TensorFlow's C++ start-up lines (CPU features, oneDNN, grappler's cost estimates)
# are information for TensorFlow's developers, not for users of a photo scan; its
# errors still show. Setting TF_CPP_MIN_LOG_LEVEL yourself keeps your value.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
