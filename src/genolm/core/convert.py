"""Convert pickle-based model files from genolm < 0.2 (``*.joblib``) to skops files.

The old files are read with a *restricted* unpickler: it resolves only the types on
:data:`genolm.core.persist.ALLOWED_TYPES` (plus numpy's and joblib's array reconstructors), so a
malicious file cannot run code during conversion either — it is refused, naming the type it asked for.
Each ``X.joblib`` becomes ``X.skops``; the old file is removed only after the new one is written.
"""

from __future__ import annotations

import os
from pathlib import Path

from genolm.core.persist import ALLOWED_TYPES, save_estimator
from genolm.io.errors import InputError

_RECONSTRUCTORS = {
    "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray.scalar",
    "numpy._core.multiarray.scalar",
    "numpy.dtype",
    "numpy.ndarray",
    "copyreg._reconstructor",
    "joblib.numpy_pickle.NumpyArrayWrapper",
    "numpy.random._pickle.__randomstate_ctor",
    "numpy.random._pickle.__bit_generator_ctor",
    "numpy.random._pickle.__generator_ctor",
    "_codecs.encode",
}


class _RefusedType(Exception):
    pass


def _restricted_unpickler_class():
    from joblib.numpy_pickle import NumpyUnpickler

    class RestrictedUnpickler(NumpyUnpickler):
        def find_class(self, module, name):
            full = f"{module}.{name}"
            if full not in ALLOWED_TYPES and full not in _RECONSTRUCTORS:
                raise _RefusedType(full)
            return super().find_class(module, name)

    return RestrictedUnpickler


def read_legacy(path: Path):
    """Un-pickle an old joblib file, resolving allow-listed types only."""
    from joblib.numpy_pickle_utils import _validate_fileobject_and_memmap

    unpickler_cls = _restricted_unpickler_class()
    with open(path, "rb") as f:
        with _validate_fileobject_and_memmap(f, str(path), None) as (fobj, _):
            try:
                return unpickler_cls(str(path), fobj, False).load()
            except _RefusedType as e:
                raise InputError(
                    f"refusing to convert: the file asks for {e} (not a type genolm stores)", path
                ) from None
            except Exception as e:
                raise InputError(f"cannot read old model file: {e}", path) from None


def convert_model_dir(path: str | os.PathLike) -> list[tuple[Path, Path]]:
    p = Path(path)
    if not p.is_dir():
        raise InputError("model folder not found", p)
    done = []
    for old in sorted(p.rglob("*.joblib")):
        obj = read_legacy(old)
        new = old.with_suffix(".skops")
        try:
            save_estimator(obj, new)
        except TypeError as e:
            raise InputError(f"cannot convert: {e}", old) from None
        old.unlink()
        done.append((old, new))
    return done
