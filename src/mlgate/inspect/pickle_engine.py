"""A streaming, symbolic pickle virtual machine: what a loader would import and call, nothing run.

The walk follows CPython's ``pickle._Unpickler`` opcode by opcode (protocols 0-5) with a symbolic
stack, mark stack and memo, so a callable assembled from memoised strings (``STACK_GLOBAL`` after
``BINGET``), from text opcodes or through ``getattr``/``attrgetter`` chains is still named. It
never imports, unpickles or evaluates anything.

Memory stays bounded whatever the input: byte and string arguments above
:data:`KEEP_BYTES` are skipped over (seek, or read-and-discard in chunks) and replaced by a
:class:`Blob` placeholder that remembers where they sit; containers keep only their first few
items; the stack and memo have hard caps (breaking one is reported as a malformed stream).

The result is a list of :class:`Event` (every global imported, every invocation, every
reconstruction, BUILD on a global, unresolvable names ...) and, when the stream breaks, the
position and reason. Events before the break are kept: a loader has already run them.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import contextlib
import lzma
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

KEEP_BYTES = 64 * 1024  # larger bytes/str arguments are skipped, not read into memory
KEEP_STR = 64 * 1024  # str arguments up to this size are kept (names come from them)
KEEP_TOTAL = 32 * 1024 * 1024  # argument bytes kept per walk (values above SMALL_VALUE)
SMALL_VALUE = 256
MAX_GUESSES = 64  # bytes that merely look like pickles, walked afterwards
BLOB_HEAD = 16  # bytes remembered from a skipped argument (enough to sniff a nested format)
MAX_LINE = 64 * 1024  # protocol 0 text arguments
MAX_STACK = 1_000_000  # symbolic values on the stack and mark stack together
MAX_MARKS = 100_000
MAX_MEMO = 1_000_000
MAX_CONTAINER_ITEMS = 64  # items kept per list/dict/set (counts go on)
MAX_EVENTS = 10_000
CHUNK = 1024 * 1024
MAX_PROTOCOL = 5
_DOUBLE = struct.Struct(">d")
_INT = struct.Struct("<i")


class Malformed(Exception):
    """The stream does not parse; a loader would stop here with an error."""


class Truncated(Malformed):
    """The stream ends in the middle of an opcode or before STOP."""


# ---------------------------------------------------------------------------------------------
# symbolic values


class _MarkType:
    def __repr__(self) -> str:
        return "MARK"


MARK = _MarkType()


@dataclass(frozen=True, eq=False)
class Global:
    module: str
    name: str
    pos: int

    @property
    def dotted(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(eq=False)
class Unknown:
    why: str


@dataclass(eq=False)
class Blob:
    """A bytes/str argument too large to keep: where it is and how it starts."""

    offset: int
    length: int
    kind: str  # "bytes" | "str" | "bytearray"
    head: bytes


@dataclass(eq=False)
class Call:
    """The result of invoking (or reconstructing) ``func`` with ``args`` at load time."""

    func: Any
    args: Any
    how: str  # reduce | inst | obj | newobj | newobj_ex
    pos: int
    kwargs: Any = None
    state: Any = None  # set by BUILD


@dataclass(eq=False)
class PersId:
    pid: Any


@dataclass(eq=False)
class SymList:
    items: list[Any] = field(default_factory=list)
    count: int = 0

    def add(self, values: list[Any]) -> None:
        room = MAX_CONTAINER_ITEMS - len(self.items)
        if room > 0:
            self.items.extend(values[:room])
        self.count += len(values)


@dataclass(eq=False)
class SymDict:
    items: dict[Any, Any] = field(default_factory=dict)
    count: int = 0

    def set(self, key: Any, value: Any) -> None:
        self.count += 1
        if len(self.items) < MAX_CONTAINER_ITEMS:
            with contextlib.suppress(TypeError):  # unhashable symbolic key: only counted
                self.items[key] = value

    def get(self, key: str) -> Any:
        return self.items.get(key)


@dataclass(eq=False)
class SymSet:
    items: list[Any] = field(default_factory=list)
    count: int = 0


# Values that stand for modules/attributes reached through getattr/import calls.
@dataclass(eq=False)
class Module:
    name: str


@dataclass(eq=False)
class Attr:
    base: Any
    name: str


@dataclass(eq=False)
class Getter:
    """operator.attrgetter / methodcaller / functools.partial results: callables built at load."""

    kind: str
    target: Any
    args: tuple[Any, ...] = ()


# ---------------------------------------------------------------------------------------------
# events


@dataclass(frozen=True)
class Event:
    kind: str  # import | call | reconstruct | build-global | unresolved | nested
    name: str  # dotted name, or a description for computed callables
    pos: int
    module: str = ""
    qualname: str = ""
    via: str = ""  # how it was reached: "getattr", "INST", "computed" ...
    detail: str = ""  # short argument preview
    dynamic: bool = False  # the callable was computed at load time (not a plain global)


@dataclass(frozen=True)
class NestedBytes:
    """A bytes argument that is itself a serialised model (pickle, torch zip ...)."""

    label: str
    pos: int
    data: bytes | None  # kept in memory when small
    blob: Blob | None  # otherwise where it is in the stream
    quiet: bool  # True: only a guess (looks like a pickle); a parse failure is not a finding
    via: str = ""


@dataclass
class PickleWalk:
    events: list[Event] = field(default_factory=list)
    nested: list[NestedBytes] = field(default_factory=list)
    error: str | None = None
    error_pos: int | None = None
    pickles: int = 0
    end: int = 0
    opcodes: int = 0
    trailing_error: str | None = None  # a follow-on pickle broke (the first one was fine)
    protocol: int = 0
    value: Any = None  # the symbolic object the last complete pickle loads
    seen: set[tuple[str, str]] = field(default_factory=set)
    events_dropped: int = 0


# ---------------------------------------------------------------------------------------------
# the buffered stream


class _Reader:
    """Buffered reads with skipping; ``pos`` is the absolute offset of the next byte."""

    def __init__(self, fh: IO[bytes], start: int = 0, limit: int | None = None) -> None:
        self.fh = fh
        self.buf = b""
        self.i = 0
        self.base = start  # absolute offset of buf[0]
        self.limit = limit  # absolute end (window over a larger stream), or None
        try:
            self.seekable = fh.seekable()
        except (AttributeError, OSError, ValueError):
            self.seekable = False

    @property
    def pos(self) -> int:
        return self.base + self.i

    def _raw(self, n: int) -> bytes:
        try:
            return self.fh.read(n)
        except (EOFError, OSError, zlib.error, lzma.LZMAError) as exc:
            # a damaged compressed container: the pickle ends here for a loader as well
            raise Truncated(f"the stream cannot be read past offset {self.pos}: {exc}") from exc

    def _fill(self, need: int) -> bool:
        """Make at least ``need`` bytes available from ``i``; False at end of stream."""
        avail = len(self.buf) - self.i
        if avail >= need:
            return True
        want = max(CHUNK, need - avail)
        if self.limit is not None:
            want = min(want, self.limit - (self.base + len(self.buf)))
            if want <= 0:
                return False
        data = self._raw(want)
        while data and len(self.buf) - self.i + len(data) < need:
            more = self._raw(want)
            if not more:
                break
            data += more
        self.base += self.i
        self.buf = self.buf[self.i :] + data
        self.i = 0
        return len(self.buf) >= need

    def read(self, n: int) -> bytes:
        if n < 0:
            raise Malformed(f"negative length {n}")
        if len(self.buf) - self.i < n and not self._fill(n):
            raise Truncated(f"stream ends inside an argument of {n} bytes at offset {self.pos}")
        out = self.buf[self.i : self.i + n]
        self.i += n
        return out

    def byte(self) -> int | None:
        if self.i >= len(self.buf) and not self._fill(1):
            return None
        b = self.buf[self.i]
        self.i += 1
        return b

    def peek(self, n: int) -> bytes:
        self._fill(n)
        return self.buf[self.i : self.i + n]

    def readline(self) -> bytes:
        while True:
            j = self.buf.find(b"\n", self.i)
            if j >= 0:
                out = self.buf[self.i : j]
                self.i = j + 1
                return out
            if len(self.buf) - self.i > MAX_LINE:
                raise Malformed(f"text argument longer than {MAX_LINE} bytes at {self.pos}")
            if not self._fill(len(self.buf) - self.i + 1):
                raise Truncated(f"stream ends inside a text argument at offset {self.pos}")

    def skip(self, n: int) -> None:
        if n < 0:
            raise Malformed(f"negative length {n}")
        avail = len(self.buf) - self.i
        if n <= avail:
            self.i += n
            return
        target = self.pos + n
        if self.limit is not None and target > self.limit:
            raise Truncated(f"argument of {n} bytes runs past the end of the stream")
        if self.seekable:
            end = self.fh.seek(0, 2)
            if target > end:
                raise Truncated(f"argument of {n} bytes runs past the end of the file")
            self.fh.seek(target)
            self.base = target
            self.buf = b""
            self.i = 0
            return
        left = n - avail
        self.base += len(self.buf)
        self.buf = b""
        self.i = 0
        while left > 0:
            data = self._raw(min(CHUNK, left))
            if not data:
                raise Truncated(f"stream ends inside an argument of {n} bytes")
            left -= len(data)
            self.base += len(data)


# ---------------------------------------------------------------------------------------------
# helpers


def _preview(value: Any, depth: int = 0) -> str:
    """A short, bounded text for an argument (shown in findings, escaped later)."""
    if depth > 3:
        return "…"
    if isinstance(value, str | bytes | int | float | bool) or value is None:
        text = repr(value)
        return text if len(text) <= 80 else text[:77] + "..."
    if isinstance(value, tuple):
        inner = ", ".join(_preview(v, depth + 1) for v in value[:6])
        return f"({inner}{', …' if len(value) > 6 else ''})"
    if isinstance(value, Global):
        return value.dotted
    if isinstance(value, Call):
        return f"{callable_name(value.func)}(…)"
    if isinstance(value, Blob):
        return f"<{value.length} {value.kind}>"
    if isinstance(value, SymList):
        return f"[{value.count} items]"
    if isinstance(value, SymDict):
        return f"{{{value.count} items}}"
    if isinstance(value, Module):
        return f"<module {value.name}>"
    if isinstance(value, Attr):
        return callable_name(value)
    return f"<{type(value).__name__.lower()}>"


def callable_name(value: Any) -> str:
    """The dotted name a symbolic callable stands for ("os.system", "<computed>" ...)."""
    if isinstance(value, Global):
        return value.dotted
    if isinstance(value, Module):
        return value.name
    if isinstance(value, Attr):
        return f"{callable_name(value.base)}.{value.name}"
    if isinstance(value, Getter):
        return f"{value.kind}({callable_name(value.target)})"
    if isinstance(value, Call):
        return f"<result of {callable_name(value.func)}>"
    return f"<{type(value).__name__.lower()}>"


_IMPORTERS = {"builtins.__import__", "importlib.import_module", "importlib.__import__"}
_GETATTRS = {"builtins.getattr", "operator.getitem"}


def _resolve_call_value(func: Any, args: Any) -> Any:
    """What a computed call returns, symbolically, when that result is a module/attribute."""
    name = callable_name(func)
    if isinstance(func, Global):
        if name in _IMPORTERS and isinstance(args, tuple) and args and isinstance(args[0], str):
            return Module(args[0])
        if name in _GETATTRS and isinstance(args, tuple) and len(args) >= 2:
            return Attr(args[0], args[1]) if isinstance(args[1], str) else None
        if name == "operator.attrgetter" and isinstance(args, tuple) and args:
            return Getter("attrgetter", args[0] if isinstance(args[0], str) else Unknown("?"))
        if name == "operator.methodcaller" and isinstance(args, tuple) and args:
            return Getter("methodcaller", args[0], tuple(args[1:]))
        if name == "functools.partial" and isinstance(args, tuple) and args:
            return Getter("partial", args[0], tuple(args[1:]))
    return None


def _split(dotted: str) -> tuple[str, str]:
    module, _, name = dotted.rpartition(".")
    return module, name


# ---------------------------------------------------------------------------------------------
# the machine

BuildHook = Callable[["PickleMachine", Any, Any], None]


class PickleMachine:
    """Walks one stream of pickles. Use :func:`walk_pickles`."""

    def __init__(self, reader: _Reader, walk: PickleWalk, *, check: Callable[[], None]) -> None:
        self.r = reader
        self.walk = walk
        self.check = check
        self.stack: list[Any] = []
        self.metastack: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.proto = 0
        self.depth = 0  # nested inline pickles (joblib object arrays)
        self.kept = 0  # argument bytes held in memory

    # -- events ---------------------------------------------------------------------------
    def event(self, kind: str, name: str, pos: int, **kw: Any) -> None:
        """Record the first occurrence of each (kind, name); past the cap of distinct names
        only what can be a finding by itself (calls, BUILD on globals, unresolved) is kept."""
        walk = self.walk
        key = (kind, name)
        if key in walk.seen:
            return
        if len(walk.events) >= MAX_EVENTS and (
            kind in ("import", "reconstruct") or len(walk.events) >= MAX_EVENTS * 10
        ):
            walk.events_dropped += 1
            return
        walk.seen.add(key)
        walk.events.append(Event(kind, name, pos, **kw))

    def guess_nested(self, item: NestedBytes) -> None:
        if sum(1 for nb in self.walk.nested if nb.quiet) < MAX_GUESSES:
            self.walk.nested.append(item)

    # -- stack ----------------------------------------------------------------------------
    def push(self, value: Any) -> None:
        self.stack.append(value)

    def pop(self) -> Any:
        if not self.stack:
            raise Malformed("stack underflow")
        return self.stack.pop()

    def check_bounds(self) -> None:
        """Called every few thousand opcodes: time, and the size of the symbolic state."""
        self.check()
        if len(self.metastack) > MAX_MARKS:
            raise Malformed(f"more than {MAX_MARKS} open MARKs (resource exhaustion)")
        held = len(self.stack) + sum(len(frame) for frame in self.metastack)
        if held > MAX_STACK:
            raise Malformed(f"more than {MAX_STACK} values on the stack (resource exhaustion)")

    def top(self) -> Any:
        if not self.stack:
            raise Malformed("stack underflow")
        return self.stack[-1]

    def pop_mark(self) -> list[Any]:
        if not self.metastack:
            raise Malformed("could not find MARK")
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    def memo_put(self, idx: int, value: Any) -> None:
        if idx < 0:
            raise Malformed("negative memo index")
        # past the cap only what name resolution needs is kept
        if (
            len(self.memo) >= MAX_MEMO
            and idx not in self.memo
            and not isinstance(value, Global | Module | Attr)
            and not (isinstance(value, str) and len(value) <= 256)
        ):
            return
        self.memo[idx] = value

    def memo_get(self, idx: int) -> Any:
        if idx in self.memo:
            return self.memo[idx]
        if len(self.memo) >= MAX_MEMO:
            return Unknown("memo entry dropped past the cap")
        raise Malformed(f"memo key {idx} not found")

    # -- arguments ------------------------------------------------------------------------
    def data(self, n: int, kind: str) -> Any:
        """Read a bytes/str argument of length n, or skip it into a Blob."""
        start = self.r.pos
        limit = KEEP_STR if kind == "str" else KEEP_BYTES
        if n > SMALL_VALUE and self.kept + n > KEEP_TOTAL:
            limit = 0  # the walk already holds enough argument bytes: placeholders from here
        if n <= limit:
            if n > SMALL_VALUE:
                self.kept += n
            raw = self.r.read(n)
            if kind == "str":
                try:
                    return raw.decode("utf-8", "surrogatepass")
                except UnicodeDecodeError as exc:
                    raise Malformed(f"invalid UTF-8 in a string at {start}") from exc
            if kind == "bytes" and raw[:1] == b"\x80" and len(raw) > 2 and 2 <= raw[1] <= 5:
                self.guess_nested(
                    NestedBytes(f"pickle bytes @{start}", start, raw, None, quiet=True)
                )
            return raw
        head = self.r.read(min(BLOB_HEAD, n))
        self.r.skip(n - len(head))
        blob = Blob(start, n, kind, head)
        if kind == "bytes" and head[:1] == b"\x80" and len(head) > 2 and 2 <= head[1] <= 5:
            self.guess_nested(NestedBytes(f"pickle bytes @{start}", start, None, blob, quiet=True))
        return blob

    def _len(self, fmt: str, size: int) -> int:
        (n,) = struct.unpack(fmt, self.r.read(size))
        if n < 0:
            raise Malformed("negative length")
        return int(n)

    # -- globals --------------------------------------------------------------------------
    def make_global(self, module: str, name: str, pos: int, via: str) -> Global:
        if self.proto < 3:
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        g = Global(module, name, pos)
        self.event("import", g.dotted, pos, module=module, qualname=name, via=via)
        return g

    # -- invocation -----------------------------------------------------------------------
    def invoke(self, func: Any, args: Any, how: str, pos: int, kwargs: Any = None) -> Any:
        """Record what invoking ``func(*args)`` means and return the symbolic result."""
        result = Call(func, args, how, pos, kwargs)
        if how in ("newobj", "newobj_ex"):
            if isinstance(func, Global):
                self.event("reconstruct", func.dotted, pos, module=func.module, qualname=func.name)
            else:
                self.event(
                    "call",
                    callable_name(func),
                    pos,
                    via=how.upper(),
                    detail="class computed at load time",
                    dynamic=True,
                )
            return result
        if isinstance(func, Global):
            dotted = func.dotted
            # only the first call of a name becomes an event: the preview of later ones is unused
            if ("call", dotted) not in self.walk.seen:
                self.event(
                    "call",
                    dotted,
                    pos,
                    module=func.module,
                    qualname=func.name,
                    via=how.upper(),
                    detail=_preview(args if isinstance(args, tuple) else (args,)),
                )
            resolved = _resolve_call_value(func, args)
            if resolved is not None:
                return resolved
            self._special_args(func, args, pos)
            return result
        # a callable computed at load time (getattr chain, attrgetter, partial ...)
        name = callable_name(func)
        target: Any = func
        if isinstance(func, Getter):
            if func.kind == "partial":
                target = func.target
                name = callable_name(target)
            elif func.kind == "attrgetter" and isinstance(args, tuple) and args:
                attr = func.target if isinstance(func.target, str) else "?"
                return Attr(args[0], attr)
            elif func.kind == "methodcaller" and isinstance(args, tuple) and args:
                meth = func.target if isinstance(func.target, str) else "?"
                target = Attr(args[0], meth)
                name = callable_name(target)
        module, qual = ("", "")
        if isinstance(target, Attr | Module):
            module, qual = _split(name)
        self.event(
            "call",
            name,
            pos,
            module=module,
            qualname=qual,
            via="computed",
            detail=_preview(args if isinstance(args, tuple) else (args,)),
            dynamic=True,
        )
        return result

    def _special_args(self, func: Global, args: Any, pos: int) -> None:
        from mlgate.inspect.allowlist import (
            INVOKES_ARGUMENT,
            NESTED_LOADERS,
            PYX_UNPICKLE_PREFIX,
            RECONSTRUCTS_ARGUMENT,
        )

        if not isinstance(args, tuple):
            return
        name = func.dotted
        if name in RECONSTRUCTS_ARGUMENT or func.name.startswith(PYX_UNPICKLE_PREFIX):
            i = RECONSTRUCTS_ARGUMENT.get(name, 0)
            if len(args) > i and isinstance(args[i], Global):
                cls = args[i]
                self.event("reconstruct", cls.dotted, pos, module=cls.module, qualname=cls.name)
            if name == "copyreg._reconstructor" and len(args) > 1:
                base = args[1]
                if isinstance(base, Global) and base.dotted != "builtins.object":
                    # base.__new__(cls, state) and base.__init__(obj, state) run
                    self.event(
                        "call",
                        base.dotted,
                        pos,
                        module=base.module,
                        qualname=base.name,
                        via="copyreg._reconstructor base",
                        detail=_preview(args[2:3]),
                    )
        if name in INVOKES_ARGUMENT:
            i, argi = INVOKES_ARGUMENT[name]
            if len(args) > i:
                inner_args = args[argi] if argi is not None and len(args) > argi else ()
                if isinstance(args[i], str):
                    return  # a name the helper looks up in its own table
                self.invoke(args[i], inner_args, f"via {name}", pos)
        if name in NESTED_LOADERS or name in (
            "pickle.loads",
            "_pickle.loads",
            "dill.loads",
            "cloudpickle.loads",
        ):
            for arg in args[:1]:
                # the same bytes may have been queued as a guess; the loader call wins
                self.walk.nested = [
                    nb for nb in self.walk.nested if nb.data is not arg and nb.blob is not arg
                ]
                if isinstance(arg, bytes):
                    self.walk.nested.append(
                        NestedBytes(f"{name} argument", pos, arg, None, quiet=False, via=name)
                    )
                elif isinstance(arg, Blob):
                    self.walk.nested.append(
                        NestedBytes(f"{name} argument", pos, None, arg, quiet=False, via=name)
                    )

    # -- the loop -------------------------------------------------------------------------
    def run_one(self, build_hook: BuildHook | None = None) -> Any:
        """Walk one pickle up to STOP; returns the symbolic value it loads."""
        r = self.r
        self.stack = []
        self.metastack = []
        self.memo = {}
        self.proto = 0
        count = 0
        next_check = 0x4000
        unpack_d = _DOUBLE.unpack_from
        unpack_i = _INT.unpack_from
        walk = self.walk
        while True:
            count += 1
            if count >= next_check:
                next_check = count + 0x4000
                self.check_bounds()
            # fast path: the opcodes that dominate large pickles, argument already buffered
            buf = r.buf
            i = r.i
            if i + 9 <= len(buf):
                op = buf[i]
                if op in (0x47, 0x4B, 0x4A):  # runs of numbers (lists of floats/ints)
                    append = self.stack.append
                    end = len(buf)
                    while i + 9 <= end:
                        op = buf[i]
                        if op == 0x47:  # BINFLOAT
                            append(unpack_d(buf, i + 1)[0])
                            i += 9
                        elif op == 0x4B:  # BININT1
                            append(buf[i + 1])
                            i += 2
                        elif op == 0x4A:  # BININT
                            append(unpack_i(buf, i + 1)[0])
                            i += 5
                        else:
                            break
                        count += 1
                    r.i = i
                    continue
                if op == 0x94:  # MEMOIZE
                    if not self.stack:
                        raise Malformed("MEMOIZE on an empty stack")
                    self.memo_put(len(self.memo), self.stack[-1])
                    r.i = i + 1
                    continue
                if op == 0x71:  # BINPUT
                    if not self.stack:
                        raise Malformed("BINPUT on an empty stack")
                    self.memo_put(buf[i + 1], self.stack[-1])
                    r.i = i + 2
                    continue
                if op == 0x68:  # BINGET
                    self.stack.append(self.memo_get(buf[i + 1]))
                    r.i = i + 2
                    continue
                if op == 0x8C:  # SHORT_BINUNICODE
                    n = buf[i + 1]
                    if i + 2 + n <= len(buf):
                        try:
                            text = buf[i + 2 : i + 2 + n].decode("utf-8", "surrogatepass")
                        except UnicodeDecodeError as exc:
                            raise Malformed(f"invalid UTF-8 in a string at {r.pos}") from exc
                        self.stack.append(text)
                        r.i = i + 2 + n
                        continue
                elif op == 0x28:  # MARK
                    self.metastack.append(self.stack)
                    self.stack = []
                    r.i = i + 1
                    continue
            pos = r.pos
            next_op = r.byte()
            if next_op is None:
                raise Truncated(f"stream ends at offset {pos} before STOP")
            op = next_op
            c = chr(op)
            # the most frequent opcodes of real checkpoints first: the chain is tested in order
            if c == "X":
                self.push(self.data(self._len("<I", 4), "str"))
            elif c == "R":  # REDUCE
                args = self.pop()
                func = self.pop()
                self.push(self.invoke(func, args, "reduce", pos))
            elif c == ")":
                self.push(())
            elif c == "t":
                self.push(tuple(self.pop_mark()))
            elif c == "\x87":
                c3 = self.pop()
                b = self.pop()
                a = self.pop()
                self.push((a, b, c3))
            elif c == "c":  # GLOBAL
                module = self._ascii(r.readline())
                name = self._ascii(r.readline())
                self.push(self.make_global(module, name, pos, "GLOBAL"))
            elif c == "\x85":
                self.push((self.pop(),))
            elif c == "}":
                self.push(SymDict())
            elif c == "\x80":  # PROTO
                proto = r.read(1)[0]
                if proto > MAX_PROTOCOL:
                    raise Malformed(f"unsupported pickle protocol {proto}")
                self.proto = proto
                self.walk.protocol = max(self.walk.protocol, proto)
            elif c == "\x89":
                self.push(False)
            elif c == ".":  # STOP
                walk.opcodes += count
                return self.pop()
            elif c == "\x86":
                b = self.pop()
                a = self.pop()
                self.push((a, b))
            elif c == "Q":  # BINPERSID
                self.push(PersId(self.pop()))
            elif c == "\x88":
                self.push(True)
            elif c == "u":  # SETITEMS
                items = self.pop_mark()
                self._setitems(self.top(), items)
            elif c == "N":
                self.push(None)
            elif c == "M":
                self.push(struct.unpack("<H", r.read(2))[0])
            elif c == "]":
                self.push(SymList())
            elif c == "b":  # BUILD
                state = self.pop()
                inst = self.top()
                self._build(inst, state, pos)
                if build_hook is not None:
                    build_hook(self, inst, state)
            elif c == "\x81":  # NEWOBJ
                args = self.pop()
                cls = self.pop()
                self.push(self.invoke(cls, args, "newobj", pos))
            elif c == "\x93":  # STACK_GLOBAL
                name_v = self.pop()
                module_v = self.pop()
                if isinstance(module_v, str) and isinstance(name_v, str):
                    self.push(self.make_global(module_v, name_v, pos, "STACK_GLOBAL"))
                else:
                    desc = f"{_preview(module_v)}.{_preview(name_v)}"
                    self.event(
                        "unresolved",
                        desc,
                        pos,
                        via="STACK_GLOBAL",
                        detail="module or name is not a plain string",
                    )
                    self.push(Unknown("unresolved global"))
            elif c == "s":  # SETITEM
                value = self.pop()
                key = self.pop()
                self._setitems(self.top(), [key, value])
            elif c == "e":  # APPENDS
                items = self.pop_mark()
                self._append(self.top(), items)
            elif c == "a":  # APPEND
                value = self.pop()
                self._append(self.top(), [value])
            elif c == "q":
                self.memo_put(r.read(1)[0], self.top())
            elif c == "h":
                self.push(self.memo_get(r.read(1)[0]))
            elif c == "\x94":  # MEMOIZE
                self.memo_put(len(self.memo), self.top())
            elif c == "(":
                self.metastack.append(self.stack)
                self.stack = []
            elif c == "K":
                self.push(r.read(1)[0])
            elif c == "\x8c":
                self.push(self.data(r.read(1)[0], "str"))
            elif c == "\x95":  # FRAME
                r.read(8)
            elif c == "0":  # POP
                if self.stack:
                    self.pop()
                else:
                    self.pop_mark()
            elif c == "1":  # POP_MARK
                self.pop_mark()
            elif c == "2":  # DUP
                self.push(self.top())
            elif c == "I":
                line = r.readline()
                if line == b"00":
                    self.push(False)
                elif line == b"01":
                    self.push(True)
                else:
                    self.push(self._int(line))
            elif c == "J":
                self.push(struct.unpack("<i", r.read(4))[0])
            elif c == "L":
                line = r.readline()
                self.push(self._int(line[:-1] if line.endswith(b"L") else line))
            elif c == "\x8a":  # LONG1
                n = r.read(1)[0]
                self.push(int.from_bytes(r.read(n), "little", signed=True) if n <= 64 else 0)
            elif c == "\x8b":  # LONG4
                n = self._len("<i", 4)
                if n > 1024:
                    r.skip(n)
                    self.push(Unknown("huge int"))
                else:
                    self.push(int.from_bytes(r.read(n), "little", signed=True))
            elif c == "F":
                line = r.readline()
                try:
                    self.push(float(line))
                except ValueError as exc:
                    raise Malformed(f"bad FLOAT at {pos}") from exc
            elif c == "G":
                self.push(struct.unpack(">d", r.read(8))[0])
            elif c == "S":  # STRING (protocol 0, quoted)
                line = r.readline().rstrip(b"\r")
                if len(line) >= 2 and line[0] == line[-1] and line[:1] in (b"'", b'"'):
                    raw = codecs.escape_decode(line[1:-1])[0]
                    self.push(raw.decode("latin-1"))
                else:
                    raise Malformed(f"the STRING opcode argument must be quoted (offset {pos})")
            elif c == "T":  # BINSTRING
                self.push(self._as_str(self.data(self._len("<i", 4), "bytes")))
            elif c == "U":  # SHORT_BINSTRING
                self.push(self._as_str(self.data(r.read(1)[0], "bytes")))
            elif c == "V":  # UNICODE (raw-unicode-escape)
                line = r.readline()
                try:
                    self.push(line.decode("raw-unicode-escape"))
                except UnicodeDecodeError as exc:
                    raise Malformed(f"bad UNICODE at {pos}") from exc
            elif c == "\x8d":
                self.push(self.data(self._len("<Q", 8), "str"))
            elif c == "B":
                self.push(self.data(self._len("<I", 4), "bytes"))
            elif c == "C":
                self.push(self.data(r.read(1)[0], "bytes"))
            elif c == "\x8e":
                self.push(self.data(self._len("<Q", 8), "bytes"))
            elif c == "\x96":  # BYTEARRAY8
                self.push(self.data(self._len("<Q", 8), "bytearray"))
            elif c == "\x97":  # NEXT_BUFFER: out-of-band data the caller must supply
                self.push(Unknown("out-of-band buffer"))
            elif c == "\x98":  # READONLY_BUFFER
                self.top()
            elif c == "l":
                lst = SymList()
                lst.add(self.pop_mark())
                self.push(lst)
            elif c == "d":
                items = self.pop_mark()
                dct = SymDict()
                for k in range(0, len(items) - 1, 2):
                    dct.set(items[k], items[k + 1])
                self.push(dct)
            elif c == "\x8f":
                self.push(SymSet())
            elif c == "\x91":  # FROZENSET
                items = self.pop_mark()
                self.push(SymSet(items[:MAX_CONTAINER_ITEMS], len(items)))
            elif c == "\x90":  # ADDITEMS
                items = self.pop_mark()
                target = self.top()
                if isinstance(target, SymSet):
                    room = MAX_CONTAINER_ITEMS - len(target.items)
                    target.items.extend(items[: max(room, 0)])
                    target.count += len(items)
                else:
                    self._append(target, items)
            elif c == "p":
                self.memo_put(self._int(r.readline()), self.top())
            elif c == "r":
                self.memo_put(struct.unpack("<I", r.read(4))[0], self.top())
            elif c == "g":
                self.push(self.memo_get(self._int(r.readline())))
            elif c == "j":
                self.push(self.memo_get(struct.unpack("<I", r.read(4))[0]))
            elif c in "\x82\x83\x84":  # EXT1/2/4
                width = {"\x82": 1, "\x83": 2, "\x84": 4}[c]
                code = int.from_bytes(r.read(width), "little")
                if code <= 0:
                    raise Malformed("EXT code must be positive")
                self.event(
                    "unresolved",
                    f"extension code {code}",
                    pos,
                    via=f"EXT{width}",
                    detail="copyreg extension registry",
                )
                self.push(Unknown(f"ext {code}"))
            elif c == "i":  # INST
                module = self._ascii(r.readline())
                name = self._ascii(r.readline())
                args = tuple(self.pop_mark())
                g = self.make_global(module, name, pos, "INST")
                self.push(self.invoke(g, args, "inst", pos))
            elif c == "o":  # OBJ
                items = self.pop_mark()
                if not items:
                    raise Malformed("OBJ without a class")
                self.push(self.invoke(items[0], tuple(items[1:]), "obj", pos))
            elif c == "\x92":  # NEWOBJ_EX
                kwargs = self.pop()
                args = self.pop()
                cls = self.pop()
                self.push(self.invoke(cls, args, "newobj_ex", pos, kwargs))
            elif c == "P":  # PERSID
                self.push(PersId(self._ascii(r.readline())))
            else:
                raise Malformed(f"invalid opcode 0x{op:02x} at offset {pos}")

    # -- opcode helpers -------------------------------------------------------------------
    @staticmethod
    def _int(line: bytes) -> int:
        try:
            return int(line)
        except ValueError as exc:
            raise Malformed(f"bad integer argument {line[:20]!r}") from exc

    @staticmethod
    def _ascii(line: bytes) -> str:
        try:
            return line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Malformed("a global name is not UTF-8") from exc

    @staticmethod
    def _as_str(value: Any) -> Any:
        # BINSTRING/SHORT_BINSTRING load as str under the default ASCII encoding
        if isinstance(value, bytes):
            return value.decode("latin-1")
        return value

    def _append(self, target: Any, values: list[Any]) -> None:
        if isinstance(target, SymList):
            target.add(values)
        elif isinstance(target, Call | Global | Unknown | Attr):
            # list.extend / append on an object: calls its extend()/append() method
            if isinstance(target, Call) and isinstance(target.func, Global):
                pass  # an object's own append/extend: part of its class's reconstruction
        elif isinstance(target, SymSet):
            target.count += len(values)
        else:
            raise Malformed(f"APPEND to a {type(target).__name__}")

    def _setitems(self, target: Any, items: list[Any]) -> None:
        if isinstance(target, SymDict):
            for k in range(0, len(items) - 1, 2):
                target.set(items[k], items[k + 1])
        elif isinstance(target, Call | Unknown | Attr | Global):
            pass  # __setitem__ of an object: part of its class's behaviour
        else:
            raise Malformed(f"SETITEM on a {type(target).__name__}")

    def _build(self, inst: Any, state: Any, pos: int) -> None:
        if isinstance(inst, Global):
            # setattr on a class/function/module object itself: monkey-patching at load time
            self.event(
                "build-global",
                inst.dotted,
                pos,
                module=inst.module,
                qualname=inst.name,
                via="BUILD",
                detail=_preview(state),
            )
        elif isinstance(inst, Module | Attr):
            self.event("build-global", callable_name(inst), pos, via="BUILD", dynamic=True)
        elif isinstance(inst, Call):
            inst.state = state


def walk_pickles(
    fh: IO[bytes],
    *,
    start: int = 0,
    limit: int | None = None,
    max_pickles: int | None = None,
    check: Callable[[], None] = lambda: None,
    build_hook: BuildHook | None = None,
    follow_on: bool = True,
) -> PickleWalk:
    """Walk the pickles of ``fh`` (from ``start``; up to ``limit`` when given).

    After a STOP the walk goes on when more bytes follow that start like a pickle (a protocol
    2+ header) and ``max_pickles`` allows it: torch's legacy format stacks five pickles, and a
    payload appended after an innocent pickle runs for a loader that calls ``load`` again.
    Exceptions other than :class:`Malformed` (timeouts, I/O errors) propagate.
    """
    walk = PickleWalk()
    if start:
        if fh.seekable():
            fh.seek(start)
        else:
            left = start
            while left > 0:
                chunk = fh.read(min(CHUNK, left))
                if not chunk:
                    break
                left -= len(chunk)
    reader = _Reader(fh, start, limit)
    machine = PickleMachine(reader, walk, check=check)
    while True:
        try:
            walk.value = machine.run_one(build_hook)
        except Malformed as exc:
            if walk.pickles == 0:
                walk.error = str(exc)
                walk.error_pos = reader.pos
            else:
                walk.trailing_error = str(exc)
            break
        walk.pickles += 1
        walk.end = reader.pos
        if max_pickles is not None and walk.pickles >= max_pickles:
            break
        nxt = reader.peek(2)
        if not nxt:
            break
        if not follow_on or not (nxt[:1] == b"\x80" and len(nxt) == 2 and 2 <= nxt[1] <= 5):
            break
    walk.end = max(walk.end, reader.pos) if walk.error else walk.end
    return walk


def run_inline(machine: PickleMachine, build_hook: BuildHook | None) -> None:
    """Walk a pickle embedded at the current position of ``machine``'s stream (joblib object
    arrays), with its own stack and memo, then give the outer pickle its state back."""
    saved = (machine.stack, machine.metastack, machine.memo, machine.proto)
    machine.depth += 1
    try:
        if machine.depth > 8:
            raise Malformed("inline pickles nested too deeply")
        machine.run_one(build_hook)
    finally:
        machine.depth -= 1
        machine.stack, machine.metastack, machine.memo, machine.proto = saved
