"""photogroup: group the faces of a photo library into people."""

__version__ = "0.1.0"
