"""Safe storage of non-torch estimators: skops with an explicit allow-list, never pickle.

A model folder downloaded from someone else must not be able to run code when it is loaded. Pickle
(and joblib, which is pickle) executes whatever the file says; ``skops.io`` only rebuilds objects whose
types are on a list we give it. genolm stores every scikit-learn estimator (and plain containers of them)
with :func:`save_estimator` and reads them back with :func:`load_estimator`; a file that asks for any
type outside :data:`ALLOWED_TYPES` (plus the caller's ``extra_types``) is refused with one clear error.

Model folders written by genolm < 0.2 hold ``*.joblib`` / ``*.pkl`` files: :func:`refuse_legacy` turns
those into a "retrain or convert with `genolm convert`" message instead of loading them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

from genolm.io.atomic import atomic_path
from genolm.io.errors import InputError

SKOPS_SUFFIX = ".skops"
LEGACY_SUFFIXES = (".joblib", ".pkl", ".pickle", ".pt", ".bin")

# Types a genolm model folder may contain. Module prefixes are listed as fully qualified names because
# skops compares exact type names; anything not listed (os.system, builtins.eval, a user class) is refused.
ALLOWED_TYPES: tuple[str, ...] = (
    # containers and scalars numpy / builtins use
    "builtins.dict",
    "builtins.list",
    "builtins.tuple",
    "builtins.str",
    "builtins.int",
    "builtins.float",
    "builtins.bool",
    "builtins.NoneType",
    "builtins.slice",
    "builtins.type",
    "builtins.set",
    "builtins.frozenset",
    "builtins.bytes",
    "builtins.object",
    "builtins.complex",
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.float64",
    "numpy.float32",
    "numpy.int64",
    "numpy.int32",
    "numpy.bool_",
    "numpy.str_",
    "numpy.random.mtrand.RandomState",
    "numpy.random._mt19937.MT19937",
    "numpy.random._pickle.__randomstate_ctor",
    "numpy.core.multiarray._reconstruct",
    "numpy.random.RandomState",
    "numpy.random.bit_generator.SeedSequence",
    "numpy.random._generator.Generator",
    "numpy.random._pcg64.PCG64",
    "collections.OrderedDict",
    "collections.defaultdict",
    "functools.partial",
    "scipy.sparse._csr.csr_matrix",
    "scipy.sparse._csc.csc_matrix",
    "scipy.sparse._coo.coo_matrix",
    "scipy.sparse._csr.csr_array",
    # scikit-learn estimators genolm trains
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.linear_model._ridge.Ridge",
    "sklearn.linear_model._ridge.RidgeCV",
    "sklearn.linear_model._ridge.RidgeClassifier",
    "sklearn.linear_model._ridge._RidgeGCV",
    "sklearn.linear_model._coordinate_descent.ElasticNet",
    "sklearn.linear_model._coordinate_descent.Lasso",
    "sklearn.linear_model._stochastic_gradient.SGDClassifier",
    "sklearn.linear_model._base.LinearRegression",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._data.MinMaxScaler",
    "sklearn.preprocessing._data.RobustScaler",
    "sklearn.preprocessing._label.LabelEncoder",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.pipeline.Pipeline",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.decomposition._pca.PCA",
    "sklearn.decomposition._truncated_svd.TruncatedSVD",
    "sklearn.feature_selection._univariate_selection.SelectKBest",
    "sklearn.feature_selection._univariate_selection.f_classif",
    "sklearn.feature_selection._variance_threshold.VarianceThreshold",
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.feature_extraction.text.CountVectorizer",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.feature_extraction._dict_vectorizer.DictVectorizer",
    "sklearn.feature_extraction._hash.FeatureHasher",
    "sklearn.feature_extraction.text.HashingVectorizer",
    "sklearn.svm._classes.SVC",
    "sklearn.svm._classes.SVR",
    "sklearn.svm._classes.LinearSVC",
    "sklearn.neighbors._classification.KNeighborsClassifier",
    "sklearn.neighbors._regression.KNeighborsRegressor",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.naive_bayes.GaussianNB",
    "sklearn.naive_bayes.MultinomialNB",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.ensemble._forest.RandomForestRegressor",
    "sklearn.ensemble._forest.ExtraTreesClassifier",
    "sklearn.ensemble._forest.ExtraTreesRegressor",
    "sklearn.ensemble._gb.GradientBoostingClassifier",
    "sklearn.ensemble._gb.GradientBoostingRegressor",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingRegressor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.link.Interval",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn._loss._loss.CyHalfSquaredError",
    "sklearn._loss._loss.CyHalfMultinomialLoss",
    "sklearn.ensemble._gb_losses.BinomialDeviance",
    "sklearn.ensemble._gb_losses.LeastSquaresError",
    "sklearn.dummy.DummyClassifier",
    "sklearn.dummy.DummyRegressor",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._classes.DecisionTreeRegressor",
    "sklearn.tree._classes.ExtraTreeClassifier",
    "sklearn.tree._classes.ExtraTreeRegressor",
    "sklearn.tree._tree.Tree",
    "sklearn.calibration.CalibratedClassifierCV",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.isotonic.IsotonicRegression",
    "sklearn.multiclass.OneVsRestClassifier",
    "sklearn.multioutput.MultiOutputRegressor",
    "sklearn.multioutput.MultiOutputClassifier",
    "sklearn.cross_decomposition._pls.PLSRegression",
    "sklearn.kernel_approximation.Nystroem",
    "sklearn.neural_network._multilayer_perceptron.MLPClassifier",
    "sklearn.neural_network._multilayer_perceptron.MLPRegressor",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.utils._bunch.Bunch",
)


def _untrusted_types(path: Path) -> list[str]:
    from skops.io import get_untrusted_types

    return list(get_untrusted_types(file=str(path)))


def save_estimator(obj: Any, path: str | os.PathLike) -> Path:
    """Write ``obj`` (an estimator, or dicts/lists of them) to ``path`` (``.skops``) atomically.

    Refuses to write an object that could not be read back under the allow-list, so a model that saves
    always loads.
    """
    import skops.io as sio

    path = Path(path)
    with atomic_path(path) as tmp:
        sio.dump(obj, str(tmp))
        bad = sorted(set(_untrusted_types(tmp)) - set(ALLOWED_TYPES))
        if bad:
            raise TypeError(
                f"cannot store {type(obj).__name__} safely: types {bad} are not on "
                "genolm.core.persist.ALLOWED_TYPES (add them there if they are plain data)"
            )
    return path


def load_estimator(path: str | os.PathLike, extra_types: Iterable[str] = ()) -> Any:
    """Read an object written by :func:`save_estimator`; refuse any type outside the allow-list."""
    import skops.io as sio

    path = Path(path)
    if not path.is_file():
        legacy = [path.with_suffix(s) for s in LEGACY_SUFFIXES if path.with_suffix(s).is_file()]
        if legacy:
            refuse_legacy(legacy[0])
        raise InputError("model file missing", path)
    allowed = set(ALLOWED_TYPES) | set(extra_types)
    try:
        untrusted = _untrusted_types(path)
    except Exception as e:  # not a skops zip: truncated, or a pickle renamed
        raise InputError(
            f"not a genolm estimator file (skops): {str(e).splitlines()[0] if str(e) else type(e).__name__}", path
        ) from None
    bad = sorted(set(untrusted) - allowed)
    if bad:
        raise InputError(
            f"refusing to load: the file asks for types genolm does not allow ({', '.join(bad[:5])})", path
        )
    try:
        return sio.load(str(path), trusted=sorted(set(untrusted)))
    except Exception as e:
        raise InputError(
            f"cannot read estimator file: {str(e).splitlines()[0] if str(e) else type(e).__name__}", path
        ) from None


def refuse_legacy(path: str | os.PathLike) -> None:
    """Raise the standard error for a pickle-based file written by an earlier genolm."""
    raise InputError(
        "this model folder was saved by an earlier genolm version as a pickle, which genolm no "
        "longer loads (it can run code); retrain the model, or convert it with "
        "`genolm convert MODEL_DIR` if you trust where it came from",
        path,
    )


def is_pickle(path: str | os.PathLike) -> bool:
    """True for a file that starts like a pickle (protocol 2-5), whatever its name."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(2)
    except OSError:
        return False
    return len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def check_no_pickles(model_dir: str | os.PathLike) -> None:
    """Refuse a model folder that carries pickle files (by name or by content): genolm never writes them."""
    d = Path(model_dir)
    if not d.is_dir():
        return
    for p in sorted(d.rglob("*")):
        if not p.is_file():
            continue
        if p.suffix in (".joblib", ".pkl", ".pickle"):
            refuse_legacy(p)
        if p.suffix != ".bin" and is_pickle(p):  # .bin: PyTorch weights, read with weights_only=True
            raise InputError(
                "refusing to load: this file in the model folder is a pickle, which genolm never "
                "writes and never loads (it can run code)",
                p,
            )
