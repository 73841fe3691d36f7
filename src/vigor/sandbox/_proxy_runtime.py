"""Both ends of the test/candidate proxy; runs INSIDE the sandboxes (standard library only).

`vigor.sandbox.proxy` writes this file, followed by one call, as the main program of two sandboxes:
- `serve_candidate(...)` runs the model-written code (then the benchmark's setup code) and answers
  calls and fetches on the channel; it is entirely untrusted, including this copy of the codec.
- `run_tests(...)` never executes model-written code: it binds the candidate's names to `Remote`
  proxies, runs the benchmark's tests, and only after the last one writes the end-of-tests
  signal on a descriptor that only it holds.

Wire format: each message is one plain-data value (a dict with str keys), after its 4-byte
big-endian length, in a tagged binary encoding that decoding can only turn into exact builtin
types (no json or re import: each sandbox starts faster):
    N None | T True | F False | i <len> hex int | f <8 bytes> double | c <16 bytes> complex
    u <len> UTF-8 str (surrogates pass) | b <len> bytes | l/t/s/z <count> items (list, tuple,
    set, frozenset) | d <count> key value ... (dict) | r <len> name (a reference to a candidate
    object: from the tests to the candidate only)
with <len>/<count> as 4-byte big-endian unsigned ints. Doubles travel as their 8 bytes, so
-0.0, nan and inf are exact; ints in hex, so any size (decimal conversion is capped).
"""

import builtins
import os
import struct
import sys

MAX_MESSAGE = 64 << 20  # bytes; a bigger answer is a failure, not a memory exhaustion of the tests
MAX_DEPTH = 200
TESTS_DONE = b"vigor-tests-done\n"
_U32, _DOUBLE, _COMPLEX = struct.Struct(">I"), struct.Struct(">d"), struct.Struct(">dd")


class PlainDataError(Exception):
    """A value that is not plain data (or a malformed message)."""


class CandidateError(Exception):
    """The candidate could not answer (did not load, has no such name, raised a non-builtin exception)."""


class CandidateGone(Exception):
    """The candidate process ended (or closed the channel) before answering."""


# ---------------------------------------------------------------- codec (exact builtin types only)

_CONTAINER_TAGS = {list: b"l", tuple: b"t", set: b"s", frozenset: b"z"}
_CONTAINER_TYPES = {tag: kind for kind, tag in _CONTAINER_TAGS.items()}


def encode(value, allow_remote=False):
    """Plain data -> bytes; allow_remote (test side): a Remote becomes a reference by name."""
    out = []
    _encode(value, allow_remote, 0, out)
    return b"".join(out)


def _encode(value, allow_remote, depth, out):
    if depth > MAX_DEPTH:
        raise PlainDataError(f"nested deeper than {MAX_DEPTH}")
    kind = type(value)
    if value is None:
        out.append(b"N")
    elif kind is bool:
        out.append(b"T" if value else b"F")
    elif kind is int:
        _chunk(out, b"i", format(value, "x").encode())
    elif kind is float:
        out += [b"f", _DOUBLE.pack(value)]
    elif kind is complex:
        out += [b"c", _COMPLEX.pack(value.real, value.imag)]
    elif kind is str:
        _chunk(out, b"u", value.encode("utf-8", "surrogatepass"))
    elif kind is bytes:
        _chunk(out, b"b", value)
    elif kind in _CONTAINER_TAGS:
        out += [_CONTAINER_TAGS[kind], _U32.pack(len(value))]
        for item in value:
            _encode(item, allow_remote, depth + 1, out)
    elif kind is dict:
        out += [b"d", _U32.pack(len(value))]
        for key, item in value.items():
            _encode(key, allow_remote, depth + 1, out)
            _encode(item, allow_remote, depth + 1, out)
    elif allow_remote and kind is Remote:
        _chunk(out, b"r", value._remote_name.encode())
    else:
        raise PlainDataError(f"a {kind.__module__}.{kind.__qualname__} object is not plain data "
                             "(None, bool, int, float, complex, str, bytes, list, tuple, dict, set, frozenset)")


def _chunk(out, tag, data):
    out += [tag, _U32.pack(len(data)), data]


def decode(data, resolve=None):
    """bytes -> exact builtin values; resolve(name) turns a reference into an object (candidate side)."""
    reader = _Reader(data, resolve)
    value = reader.value(0)
    if reader.at != len(data):
        raise PlainDataError("malformed message: bytes after the value")
    return value


class _Reader:
    def __init__(self, data, resolve):
        self.data, self.at, self.resolve = data, 0, resolve

    def take(self, size):
        if size > len(self.data) - self.at:
            raise PlainDataError("malformed message: truncated")
        self.at += size
        return self.data[self.at - size:self.at]

    def count(self):
        (n,) = _U32.unpack(self.take(4))
        if n > len(self.data) - self.at:  # each item takes at least one byte
            raise PlainDataError("malformed message: impossible length")
        return n

    def value(self, depth):
        if depth > MAX_DEPTH:
            raise PlainDataError(f"nested deeper than {MAX_DEPTH}")
        tag = self.take(1)
        try:
            if tag in b"NTF":
                return {b"N": None, b"T": True, b"F": False}[tag]
            if tag == b"i":
                return int(self.take(self.count()).decode("ascii"), 16)
            if tag == b"f":
                return _DOUBLE.unpack(self.take(8))[0]
            if tag == b"c":
                return complex(*_COMPLEX.unpack(self.take(16)))
            if tag == b"u":
                return self.take(self.count()).decode("utf-8", "surrogatepass")
            if tag == b"b":
                return bytes(self.take(self.count()))
            if tag in _CONTAINER_TYPES:
                n = self.count()
                return _CONTAINER_TYPES[tag](self.value(depth + 1) for _ in range(n))
            if tag == b"d":
                n = self.count()
                return dict((self.value(depth + 1), self.value(depth + 1)) for _ in range(n))
            if tag == b"r" and self.resolve is not None:
                return self.resolve(self.take(self.count()).decode("utf-8"))
        except (ValueError, TypeError) as err:  # bad hex or UTF-8, unhashable key or element
            raise PlainDataError(f"malformed {tag.decode('latin-1')!r} value: {err}") from None
        raise PlainDataError(f"unknown value tag {tag!r}")


# ---------------------------------------------------------------- framing

def send(fd, message, allow_remote=False):
    data = encode(message, allow_remote)
    view = memoryview(_U32.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def receive(fd, resolve=None):
    """The next message (a dict with str keys), or None at end of file."""
    head = _read_exactly(fd, 4)
    if head is None:
        return None
    (size,) = _U32.unpack(head)
    if size > MAX_MESSAGE:
        raise PlainDataError(f"a message of {size} bytes is over the {MAX_MESSAGE}-byte limit")
    body = _read_exactly(fd, size)
    if body is None:
        return None
    message = decode(body, resolve)
    if type(message) is not dict or not all(type(k) is str for k in message):
        raise PlainDataError("malformed message")
    return message


def _read_exactly(fd, size):
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# ---------------------------------------------------------------- candidate side (untrusted)

def serve_candidate(source, setup_source, channel_fd):
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    try:
        exec(compile(source, "solution.py", "exec"), namespace)
        if setup_source:
            exec(compile(setup_source, "test_setup.py", "exec"), namespace)
    except BaseException as err:
        import traceback

        traceback.print_exc()
        send(channel_fd, {"load_error": _one_line(err)})
        sys.stdout.flush()
        os._exit(1)
    send(channel_fd, {"ready": True})

    def resolve(name):
        if name not in namespace:
            raise CandidateError(f"the solution defines no {name!r}")
        return namespace[name]

    while True:
        try:
            request = receive(channel_fd, resolve)
            if request is None:
                break
            if "fetch" in request:
                send(channel_fd, {"value": resolve(request["fetch"])})
                continue
            function, args, kwargs = resolve(request["call"]), request["args"], request["kwargs"]
            try:
                value = function(*args, **kwargs)
            except Exception as err:  # the tests decide whether that was expected
                send(channel_fd, {"raised": [type(err).__name__, str(err)[:2000]]})
                continue
            send(channel_fd, {"value": _as_plain(value), "args_after": [_plain_or_none(a) for a in args],
                              "kwargs_after": {k: _plain_or_none(v) for k, v in kwargs.items()}})
        except PlainDataError as err:
            send(channel_fd, {"refused": str(err)})
        except (CandidateError, RecursionError) as err:
            send(channel_fd, {"refused": f"{type(err).__name__}: {err}"})
        sys.stdout.flush()


def _as_plain(value):
    """The candidate's own courtesy: stdlib dict types become dicts (MBPP 40 returns a Counter). The
    tests' side accepts exact builtin types only, whatever this process sends."""
    import collections

    if type(value) in (collections.Counter, collections.OrderedDict, collections.defaultdict):
        return dict(value)
    return value


def _plain_or_none(value):
    try:
        encode(value)
    except (PlainDataError, RecursionError):
        return None
    return value


def _one_line(err):
    return f"{type(err).__name__}: {err}".splitlines()[0][:500]


# ---------------------------------------------------------------- test side (no model-written code)

class Remote:
    """A name defined by the candidate: calling it calls it in the candidate's process; passing it
    as an argument passes a reference. Results come back as exact builtin plain data only."""

    __slots__ = ("_remote_name",)
    channel_fd = None

    def __init__(self, name):
        self._remote_name = name

    def __repr__(self):
        return f"<candidate {self._remote_name}>"

    def __call__(self, *args, **kwargs):
        reply = _exchange({"call": self._remote_name, "args": list(args), "kwargs": kwargs}, f"{self._remote_name}()")
        if "raised" in reply:
            raised = reply["raised"]
            if type(raised) is not list or len(raised) != 2 or not all(type(x) is str for x in raised):
                raise PlainDataError(f"{self._remote_name}(): malformed reply")
            raise _rebuilt_exception(*raised)
        after = reply.get("args_after")
        for before, value in zip(args, after if type(after) is list else []):
            _copy_mutation(before, value)
        after = reply.get("kwargs_after")
        for key, value in (after if type(after) is dict else {}).items():
            _copy_mutation(kwargs.get(key), value)
        return reply["value"]


def fetch(name):
    """The value of the candidate's global `name`, as exact builtin plain data."""
    return _exchange({"fetch": name}, name)["value"]


def _exchange(request, what):
    send(Remote.channel_fd, request, allow_remote=True)
    reply = receive(Remote.channel_fd)
    if reply is None:
        raise CandidateGone(f"the candidate process ended before answering {what}")
    if "refused" in reply:
        raise PlainDataError(f"{what}: {reply['refused']}")
    if "raised" not in reply and "value" not in reply:
        raise PlainDataError(f"{what}: malformed reply")
    return reply


def _copy_mutation(before, after):
    """A candidate that mutates its list/dict/set argument mutates the tests' copy the same way."""
    if type(before) in (list, dict, set) and type(after) is type(before) and after != before:
        if type(before) is list:
            before[:] = after
        else:
            before.clear()
            before.update(after)


def _rebuilt_exception(name, message):
    """The same builtin exception type (tests may expect e.g. a ValueError); CandidateError otherwise."""
    kind = getattr(builtins, str(name), None)
    if isinstance(kind, type) and issubclass(kind, Exception):
        try:
            return kind(str(message))
        except Exception:
            pass
    return CandidateError(f"{name}: {message}")


def run_tests(source, remote_names, fetched_names, modules, channel_fd, verdict_fd):
    Remote.channel_fd = channel_fd
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    try:
        hello = receive(channel_fd)
        if hello is None:
            raise CandidateGone("the candidate process ended before the tests started")
        if "load_error" in hello:
            raise CandidateError(f"the solution did not load: {str(hello['load_error'])[:500]}")
        for local, remote in remote_names.items():
            namespace[local] = Remote(remote)
        for local, remote in fetched_names.items():
            namespace[local] = fetch(remote)
        for name in modules:  # standard modules the tests use without importing them
            namespace[name] = __import__(name)
        exec(compile(source, "tests.py", "exec"), namespace)
    except BaseException:
        import traceback

        sys.stdout.flush()
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    sys.stdout.flush()
    os.write(verdict_fd, TESTS_DONE)  # the end-of-tests signal: only this process holds verdict_fd
    os._exit(0)
