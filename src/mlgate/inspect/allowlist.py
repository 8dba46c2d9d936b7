"""The pickle allow-list: what an ML checkpoint may import and call while it loads.

A global that is *invoked* during load (REDUCE, INST, OBJ, or as the callable an allowed helper
invokes) must be in :data:`SAFE_CALLS` or in the project's ``models.allow-globals``; anything
else is a finding. Classes that are only *reconstructed* (NEWOBJ, ``copyreg._reconstructor``,
BUILD of state) are allowed from anywhere: reconstruction runs no constructor, only the class's
own ``__setstate__``. The deny-list never allows anything; it only raises the severity of what
the allow-list already rejects (and of deny-listed names imported without being called).

Version history (the version is printed in findings so a result says which list judged it):

* ``2026.11`` - first list: torch tensor/storage rebuild helpers, numpy arrays, dtypes and
  scalars, numpy random state, scikit-learn's Cython types, standard value types.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

ALLOWLIST_VERSION = "2026.11"

# Callables a loader may invoke with arguments: pure value constructors and rebuild helpers.
SAFE_CALLS: frozenset[str] = frozenset(
    {
        # standard value types (pickle itself uses these for protocol 0-2 bytes, sets, ...)
        "_codecs.encode",
        "builtins.bytearray",
        "builtins.bytes",
        "builtins.bool",
        "builtins.complex",
        "builtins.dict",
        "builtins.float",
        "builtins.frozenset",
        "builtins.int",
        "builtins.list",
        "builtins.object",
        "builtins.range",
        "builtins.set",
        "builtins.slice",
        "builtins.str",
        "builtins.tuple",
        "collections.Counter",
        "collections.OrderedDict",
        "collections.defaultdict",
        "collections.deque",
        "copyreg._reconstructor",  # special-cased: the base class is judged too
        "copyreg.__newobj__",
        "copyreg.__newobj_ex__",
        "datetime.date",
        "datetime.datetime",
        "datetime.time",
        "datetime.timedelta",
        "datetime.timezone",
        "decimal.Decimal",
        "fractions.Fraction",
        "pathlib.PosixPath",
        "pathlib.PurePosixPath",
        "pathlib.PureWindowsPath",
        "pathlib.WindowsPath",
        "re._compile",
        "uuid.UUID",
        "enum.Enum",
        # numpy arrays, dtypes, scalars, random state
        "numpy.core.multiarray._reconstruct",
        "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar",
        "numpy.core.numeric._frombuffer",
        "numpy._core.numeric._frombuffer",
        "numpy.dtype",
        "numpy.ndarray",
        "numpy.ma.core._mareconstruct",
        "numpy.random._pickle.__randomstate_ctor",
        "numpy.random._pickle.__bit_generator_ctor",
        "numpy.random._pickle.__generator_ctor",
        "numpy.random.mtrand._rand",
        "numpy.random.mtrand.RandomState",
        "numpy.random._mt19937.MT19937",
        "numpy.random._pcg64.PCG64",
        "numpy.random._pcg64.PCG64DXSM",
        "numpy.random._philox.Philox",
        "numpy.random._sfc64.SFC64",
        "numpy.random._generator.Generator",
        "numpy.random.bit_generator.SeedSequence",
        "scipy.sparse._csr.csr_matrix",
        "scipy.sparse._csc.csc_matrix",
        # torch: what torch.load(weights_only=True) allows, plus its pickled-module helpers
        "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_tensor_v3",
        "torch._utils._rebuild_sparse_tensor",
        "torch._utils._rebuild_nested_tensor",
        "torch._utils._rebuild_device_tensor_from_cpu_tensor",
        "torch._utils._rebuild_device_tensor_from_numpy",
        "torch._utils._rebuild_meta_tensor_no_storage",
        "torch._utils._rebuild_wrapper_subclass",
        "torch._utils._rebuild_qtensor",
        "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state",
        "torch._tensor._rebuild_from_type",  # special-cased: its first argument is invoked
        "torch._tensor._rebuild_from_type_v2",
        "torch.storage._load_from_bytes",  # special-cased: the bytes are scanned as a checkpoint
        "torch.serialization._get_layout",
        # TorchScript archives (constants.pkl, data.pkl, debug_pkl)
        "torch.jit._pickle.build_intlist",
        "torch.jit._pickle.build_tensorlist",
        "torch.jit._pickle.build_doublelist",
        "torch.jit._pickle.build_boollist",
        "torch.jit._pickle.build_tensor_from_id",
        "torch.jit._pickle.restore_type_tag",
        "torch.Size",
        "torch.device",
        "torch.nn.parameter.Parameter",
        "torch.Tensor",
        # scikit-learn Cython types rebuilt through their own __reduce__ (cls(*args))
        "sklearn.tree._tree.Tree",
        "sklearn.neighbors._kd_tree.KDTree",
        "sklearn.neighbors._ball_tree.BallTree",
        "sklearn._loss._loss.CyHalfBinomialLoss",
        "sklearn._loss._loss.CyHalfSquaredError",
        "sklearn._loss._loss.CyHalfMultinomialLoss",
        "sklearn._loss._loss.CyAbsoluteError",
        "sklearn._loss._loss.CyPinballLoss",
        "sklearn._loss._loss.CyHalfPoissonLoss",
        "sklearn._loss._loss.CyHalfGammaLoss",
        "sklearn._loss._loss.CyHalfTweedieLoss",
        "sklearn._loss._loss.CyHalfTweedieLossIdentity",
        "sklearn._loss._loss.CyHuberLoss",
        "sklearn._loss._loss.CyExponentialLoss",
        "sklearn.utils._bunch.Bunch",
        "joblib.numpy_pickle.NumpyArrayWrapper",
        "joblib.numpy_pickle.NDArrayWrapper",
        "joblib.numpy_pickle_compat.NDArrayWrapper",
        "joblib.numpy_pickle_compat.ZNDArrayWrapper",
        # Enum members pickle as EnumClass(value): the enums of Hugging Face training_args.bin
        "transformers.trainer_utils.IntervalStrategy",
        "transformers.trainer_utils.EvaluationStrategy",
        "transformers.trainer_utils.SaveStrategy",
        "transformers.trainer_utils.HubStrategy",
        "transformers.trainer_utils.SchedulerType",
        "transformers.trainer_utils.FSDPOption",
        "transformers.training_args.OptimizerNames",
        "transformers.debug_utils.DebugOption",
        "accelerate.utils.dataclasses.DistributedType",
        # pandas frames
        "pandas._libs.internals._unpickle_block",
        "pandas.core.internals.blocks.new_block",
        "pandas.core.indexes.base._new_Index",
        "pandas._libs.tslibs.timestamps._unpickle_timestamp",
        "pandas._libs.tslibs.timedeltas._timedelta_unpickle",
    }
)

# Allowed helpers that invoke one of their own arguments: index of the invoked argument and the
# index of the tuple of arguments it is invoked with (None: no arguments we can see).
INVOKES_ARGUMENT: dict[str, tuple[int, int | None]] = {
    "torch._tensor._rebuild_from_type": (0, 2),
    "torch._tensor._rebuild_from_type_v2": (0, 2),
    "numpy.random._pickle.__randomstate_ctor": (1, None),
    "numpy.random._pickle.__generator_ctor": (1, None),
}

# Allowed helpers that reconstruct (cls.__new__) the class given as an argument.
RECONSTRUCTS_ARGUMENT: dict[str, int] = {
    "copyreg._reconstructor": 0,
    "copyreg.__newobj__": 0,
    "copyreg.__newobj_ex__": 0,
    "numpy.core.multiarray._reconstruct": 0,
    "numpy._core.multiarray._reconstruct": 0,
    "torch._utils._rebuild_wrapper_subclass": 0,
    "pandas.core.indexes.base._new_Index": 0,
    # scikit-learn's Cython helpers: ``newObj(cls)`` is ``cls.__new__(cls)``
    "sklearn.metrics._dist_metrics.newObj": 0,
    "sklearn.neighbors._ball_tree.newObj": 0,
    "sklearn.neighbors._kd_tree.newObj": 0,
    "sklearn.neighbors._binary_tree.newObj": 0,
}

# Cython's generated ``__pyx_unpickle_<Class>(type, checksum, state)`` only reconstructs ``type``;
# allowed inside the well-known namespaces below.
PYX_UNPICKLE_PREFIX = "__pyx_unpickle_"

# Allowed helpers whose bytes argument is itself a serialised model: it is scanned as one.
NESTED_LOADERS: frozenset[str] = frozenset({"torch.storage._load_from_bytes"})

# Namespaces whose classes are reconstructed in ordinary checkpoints: no info note for them.
KNOWN_NAMESPACES: tuple[str, ...] = (
    "builtins",
    "collections",
    "datetime",
    "numpy",
    "scipy",
    "sklearn",
    "torch",
    "__torch__",  # TorchScript classes compiled into the archive's code/ folder
    "joblib",
    "pandas",
    "xgboost",
    "lightgbm",
    "catboost",
    "transformers",
    "accelerate",
    "tokenizers",
    "torchvision",
    "torchaudio",
    "timm",
    "_codecs",
    "copyreg",
    "enum",
    "functools",
    "uuid",
    "decimal",
    "fractions",
    "pathlib",
)

# Deny-list: severity only. Whole modules (and their submodules) ...
DENY_MODULES: frozenset[str] = frozenset(
    {
        # process and code execution
        "os",
        "posix",
        "nt",
        "subprocess",
        "commands",
        "popen2",
        "pty",
        "pexpect",
        "multiprocessing",
        "signal",
        "sys",
        "code",
        "codeop",
        "runpy",
        "timeit",
        "cProfile",
        "profile",
        "trace",
        "pdb",
        "bdb",
        "doctest",
        "ctypes",
        "cffi",
        "_ctypes",
        # import machinery and (de)serialisers that run code
        "importlib",
        "imp",
        "pkgutil",
        "zipimport",
        "types",
        "marshal",
        "pickle",
        "_pickle",
        "cPickle",
        "pickletools",
        "dill",
        "cloudpickle",
        "shelve",
        "torch.hub",
        "torch.package",
        "torch.utils.cpp_extension",
        "ensurepip",
        "pip",
        "setuptools",
        "distutils",
        "venv",
        "antigravity",
        "logging.config",
        # file system access
        "posixpath",
        "ntpath",
        "shutil",
        "tempfile",
        "fileinput",
        "io",
        "_io",
        "zipfile",
        "tarfile",
        # network
        "socket",
        "socketserver",
        "ssl",
        "http",
        "urllib",
        "urllib2",
        "urllib3",
        "requests",
        "httpx",
        "aiohttp",
        "ftplib",
        "smtplib",
        "telnetlib",
        "poplib",
        "imaplib",
        "xmlrpc",
        "asyncio",
    }
)

# ... and single names.
DENY_NAMES: frozenset[str] = frozenset(
    {
        "builtins.eval",
        "builtins.exec",
        "builtins.compile",
        "builtins.__import__",
        "builtins.getattr",
        "builtins.setattr",
        "builtins.delattr",
        "builtins.open",
        "builtins.input",
        "builtins.breakpoint",
        "builtins.globals",
        "builtins.locals",
        "builtins.vars",
        "builtins.exit",
        "builtins.quit",
        "builtins.help",
        "builtins.memoryview",
        "builtins.type",
        "codecs.open",
        "numpy.load",
        "numpy.loadtxt",
        "numpy.fromfile",
        "numpy.testing._private.utils.runstring",
        "numpy.f2py.compile",
        "numpy.distutils.exec_command",
        "pandas.read_pickle",
        "pandas.read_csv",
        "pandas.eval",
        "torch.load",
        "torch.jit.load",
        "torch.ops.load_library",
        "torch.classes.load_library",
        "joblib.load",
        "pydoc.pipepager",
        "pydoc.tempfilepager",
        "pydoc.pager",
        "pydoc.locate",
    }
)


def _is_dunder(part: str) -> bool:
    return part.startswith("__") and part.endswith("__") and len(part) > 4


def traverses_internals(module: str, name: str) -> bool:
    """``name`` walks attributes (protocol 4 dotted names) through dunders like ``__globals__``.

    Dotted names are resolved attribute by attribute; a dunder on the way reaches interpreter
    internals from an innocent-looking module (``collections`` +
    ``OrderedDict.__init__.__globals__``).
    """
    parts = name.split(".")
    return len(parts) > 1 and any(_is_dunder(p) for p in parts)


def in_namespace(dotted: str, namespace: str) -> bool:
    return dotted == namespace or dotted.startswith(namespace + ".")


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    denied: str | None  # why the deny-list names it (sets critical), or None


class AllowList:
    """The built-in allow-list extended by a project's ``models.allow-globals`` patterns.

    A pattern is ``module.Name`` (exact) or ``module.*`` (every name of the module and its
    submodules). Patterns never allow a name that traverses dunders or a deny-listed name.
    """

    def __init__(self, extra: Iterable[str] = ()) -> None:
        self.exact: set[str] = set(SAFE_CALLS)
        self.prefixes: list[str] = []
        for raw in extra:
            pat = raw.strip()
            if not pat:
                continue
            if pat.endswith(".*"):
                self.prefixes.append(pat[:-2])
            else:
                self.exact.add(pat)
        # decisions are pure functions of (module, name) and this instance's patterns, and a
        # checkpoint asks about the same few names thousands of times: remember them
        self._deny: dict[tuple[str, str], str | None] = {}
        self._allow: dict[tuple[str, str], bool] = {}
        self._known: dict[tuple[str, str], bool] = {}

    @classmethod
    def shared(cls, extra: tuple[str, ...] = ()) -> AllowList:
        """One instance (and so one decision cache) per set of project patterns."""
        found = _SHARED.get(extra)
        if found is None:
            if len(_SHARED) >= 64:  # many distinct pattern sets: keep the cache bounded
                _SHARED.clear()
            found = _SHARED[extra] = cls(extra)
        return found

    def deny_reason(self, module: str, name: str) -> str | None:
        key = (module, name)
        try:
            return self._deny[key]
        except KeyError:
            pass
        reason = self._deny[key] = self._deny_reason(module, name)
        return reason

    def _deny_reason(self, module: str, name: str) -> str | None:
        dotted = f"{module}.{name}"
        if traverses_internals(module, name):
            return "attribute traversal through interpreter internals"
        if dotted in DENY_NAMES or any(in_namespace(dotted, d) for d in DENY_NAMES):
            return "deny-listed callable"
        top = module
        while top:
            if top in DENY_MODULES:
                return f"deny-listed module {top}"
            top = top.rpartition(".")[0]
        if module in ("builtins", "__builtin__") and name.split(".")[0] in {
            n.split(".", 1)[1] for n in DENY_NAMES if n.startswith("builtins.")
        }:
            return "deny-listed builtin"
        return None

    def allows_call(self, module: str, name: str) -> bool:
        key = (module, name)
        try:
            return self._allow[key]
        except KeyError:
            pass
        allowed = self._allow[key] = self._allows_call(module, name)
        return allowed

    def _allows_call(self, module: str, name: str) -> bool:
        if traverses_internals(module, name) or self.deny_reason(module, name):
            return False
        dotted = f"{module}.{name}"
        if dotted in self.exact or dotted in RECONSTRUCTS_ARGUMENT:
            return True
        if name.startswith(PYX_UNPICKLE_PREFIX) and any(
            in_namespace(module, ns) for ns in KNOWN_NAMESPACES
        ):
            return True
        return any(in_namespace(module, p) or in_namespace(dotted, p) for p in self.prefixes)

    def known(self, module: str, name: str) -> bool:
        """A well-known library namespace (reconstructing its classes needs no note)."""
        key = (module, name)
        try:
            return self._known[key]
        except KeyError:
            pass
        known = self._known[key] = self.allows_call(module, name) or any(
            in_namespace(module, ns) for ns in KNOWN_NAMESPACES
        )
        return known

    def verdict(self, module: str, name: str) -> Verdict:
        return Verdict(self.allows_call(module, name), self.deny_reason(module, name))


_SHARED: dict[tuple[str, ...], AllowList] = {}
