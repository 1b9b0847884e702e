"""medialib: a video story library and media-asset manager.

The Python API starts at :class:`Library`; every error it raises on purpose
is a :class:`MedialibError`.
"""

from medialib.errors import MedialibError
from medialib.library import Library

__version__ = "0.1.0"
__all__ = ["Library", "MedialibError", "__version__"]
