"""Pure Python + numpy: types, geometry, distances, errors, configuration.

Nothing here imports SQLAlchemy, TensorFlow or any model.
"""
