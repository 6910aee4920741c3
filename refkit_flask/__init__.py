"""refkit_flask: the Flask extension for refkit (arrives with the next release).

The framework-agnostic core lives in :mod:`refkit`; this package will wrap it by composition.
"""

__all__: list[str] = []
