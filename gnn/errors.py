"""Errors raised by :mod:`gnn`, all part of the project's one exception tree.

Every class derives from :class:`connectome.errors.InputError` or
:class:`connectome.errors.ConnectomeError`, so ``except ConnectomeError`` (what
the ``connectome`` command does) catches them and prints one line.

Examples
--------
>>> from connectome.errors import ConnectomeError
>>> err = DeviceError("device='cuda' but CUDA is not available; use device='cpu'", "device")
>>> isinstance(err, ConnectomeError), isinstance(err, ValueError), err.parameter
(True, True, 'device')
"""

from __future__ import annotations

from connectome.errors import ConnectomeError, InputError

__all__ = ["LabelError", "SplitError", "FeatureMismatchError", "DeviceError", "ModelFileError"]


class LabelError(InputError):
    """A label column that cannot train a classifier (one class, too few labelled nodes)."""


class SplitError(InputError):
    """A train/validation/test split that cannot be made (too few labelled nodes, bad fractions)."""


class FeatureMismatchError(InputError):
    """A saved model applied to a store whose wiring features differ from the ones it was trained on."""


class DeviceError(InputError):
    """A device that does not exist here (e.g. ``device="cuda"`` without CUDA)."""


class ModelFileError(ConnectomeError):
    """A saved model folder that is missing, incomplete or written by an incompatible version."""
