"""Both ends of the test/candidate proxy; runs INSIDE the sandboxes (standard library only).

`vigor.sandbox.proxy` writes this file, followed by one call, as the main program of two sandboxes:
- `serve_candidate(...)` runs the model-written code (then the benchmark's setup code) and answers
  calls and fetches on the channel; it is entirely untrusted, including this copy of the codec.
- `run_tests(...)` never executes model-written code: it binds the candidate's names to `Remote`
  proxies, runs the benchmark's tests, and only after the last one writes the end-of-tests
  signal on a descriptor that only it holds.

Wire format: one JSON document per message, after its 4-byte big-endian length. Values are plain
data only, tagged so that decoding rebuilds exact builtin types and nothing else:
    None, True/False, "str", [list], {"i": hex int}, {"f": float.hex()}, {"c": [re, im]},
    {"b": hex bytes}, {"t": [tuple]}, {"d": [[key, value], ...]}, {"s": [set]}, {"z": [frozenset]},
    and, from the tests to the candidate only, {"r": name} (a reference to a candidate object).
Hex keeps floats bit-exact (-0.0, nan, inf) and ints of any size (decimal conversion is capped).
"""

import builtins
import json
import os
import struct
import sys
import traceback

MAX_MESSAGE = 64 << 20  # bytes; a bigger answer is a failure, not a memory exhaustion of the tests
MAX_DEPTH = 200
TESTS_DONE = b"vigor-tests-done\n"


class PlainDataError(Exception):
    """A value that is not plain data (or a malformed message)."""


class CandidateError(Exception):
    """The candidate could not answer (did not load, has no such name, raised a non-builtin exception)."""


class CandidateGone(Exception):
    """The candidate process ended (or closed the channel) before answering."""


# ---------------------------------------------------------------- codec (exact builtin types only)

def encode(value, allow_remote=False, depth=0):
    """Plain data -> JSON-able tree; allow_remote (test side): a Remote becomes a reference by name."""
    if depth > MAX_DEPTH:
        raise PlainDataError(f"nested deeper than {MAX_DEPTH}")
    kind = type(value)
    if value is None or kind is bool or kind is str:
        return value
    if kind is int:
        return {"i": hex(value)}
    if kind is float:
        return {"f": value.hex()}
    if kind is complex:
        return {"c": [value.real.hex(), value.imag.hex()]}
    if kind is bytes:
        return {"b": value.hex()}
    if kind is list:
        return [encode(v, allow_remote, depth + 1) for v in value]
    if kind in (tuple, set, frozenset):
        tag = {tuple: "t", set: "s", frozenset: "z"}[kind]
        return {tag: [encode(v, allow_remote, depth + 1) for v in value]}
    if kind is dict:
        return {"d": [[encode(k, allow_remote, depth + 1), encode(v, allow_remote, depth + 1)]
                      for k, v in value.items()]}
    if allow_remote and kind is Remote:
        return {"r": value._remote_name}
    raise PlainDataError(f"a {kind.__module__}.{kind.__qualname__} object is not plain data "
                         "(None, bool, int, float, complex, str, bytes, list, tuple, dict, set, frozenset)")


def decode(tree, resolve=None, depth=0):
    """JSON tree -> exact builtin values; resolve(name) turns {"r": name} into an object (candidate side)."""
    if depth > MAX_DEPTH:
        raise PlainDataError(f"nested deeper than {MAX_DEPTH}")
    if tree is None or type(tree) is bool or type(tree) is str:
        return tree
    if type(tree) is list:
        return [decode(v, resolve, depth + 1) for v in tree]
    if type(tree) is not dict or len(tree) != 1:
        raise PlainDataError(f"malformed value {str(tree)[:80]!r}")
    (tag, payload), = tree.items()
    try:
        if tag == "i":
            return int(_text(payload), 16)
        if tag == "f":
            return float.fromhex(_text(payload))
        if tag == "c":
            real, imag = _items(payload)
            return complex(float.fromhex(_text(real)), float.fromhex(_text(imag)))
        if tag == "b":
            return bytes.fromhex(_text(payload))
        if tag in ("t", "s", "z"):
            items = [decode(v, resolve, depth + 1) for v in _items(payload)]
            return {"t": tuple, "s": set, "z": frozenset}[tag](items)
        if tag == "d":
            pairs = [_items(pair) for pair in _items(payload)]
            return {decode(k, resolve, depth + 1): decode(v, resolve, depth + 1) for k, v in pairs}
        if tag == "r" and resolve is not None:
            return resolve(_text(payload))
    except (ValueError, TypeError) as err:  # bad hex, unhashable key, wrong arity
        raise PlainDataError(f"malformed {tag!r} value: {err}") from None
    raise PlainDataError(f"unknown value tag {tag!r}")


def _text(payload):
    if type(payload) is not str:
        raise PlainDataError("malformed value: expected a string")
    return payload


def _items(payload):
    if type(payload) is not list:
        raise PlainDataError("malformed value: expected a list")
    return payload


# ---------------------------------------------------------------- framing

def send(fd, message):
    data = json.dumps(message).encode()
    os.write(fd, struct.pack(">I", len(data)))
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def receive(fd):
    """The next message (a dict), or None at end of file."""
    head = _read_exactly(fd, 4)
    if head is None:
        return None
    (size,) = struct.unpack(">I", head)
    if size > MAX_MESSAGE:
        raise PlainDataError(f"a message of {size} bytes is over the {MAX_MESSAGE}-byte limit")
    body = _read_exactly(fd, size)
    if body is None:
        return None
    try:
        message = json.loads(body)
    except (ValueError, RecursionError) as err:
        raise PlainDataError(f"malformed message: {err}") from None
    if type(message) is not dict:
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
        traceback.print_exc()
        send(channel_fd, {"load_error": _one_line(err)})
        sys.stdout.flush()
        os._exit(1)
    send(channel_fd, {"ready": True})

    def resolve(name):
        if name not in namespace:
            raise CandidateError(f"the solution defines no {name!r}")
        return namespace[name]

    while (request := receive(channel_fd)) is not None:
        try:
            if "fetch" in request:
                send(channel_fd, {"value": encode(resolve(request["fetch"]))})
                continue
            function = resolve(request["call"])
            args = decode(request["args"], resolve)
            kwargs = {k: decode(v, resolve) for k, v in request["kwargs"].items()}
            try:
                value = function(*args, **kwargs)
            except Exception as err:  # the tests decide whether that was expected
                send(channel_fd, {"raised": [type(err).__name__, str(err)[:2000]]})
                continue
            send(channel_fd, {"value": encode(_as_plain(value)), "args_after": [_encode_or_none(a) for a in args],
                              "kwargs_after": {k: _encode_or_none(v) for k, v in kwargs.items()}})
        except (PlainDataError, CandidateError, RecursionError) as err:
            send(channel_fd, {"refused": f"{type(err).__name__}: {err}"})
        sys.stdout.flush()


def _as_plain(value):
    """The candidate's own courtesy: stdlib dict types become dicts (MBPP 40 returns a Counter). The
    tests' side accepts exact builtin types only, whatever this process sends."""
    import collections

    if type(value) in (collections.Counter, collections.OrderedDict, collections.defaultdict):
        return dict(value)
    return value


def _encode_or_none(value):
    try:
        return encode(value)
    except (PlainDataError, RecursionError):
        return None


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
        request = {"call": self._remote_name, "args": [encode(a, True) for a in args],
                   "kwargs": {k: encode(v, True) for k, v in kwargs.items()}}
        reply = _exchange(request, f"{self._remote_name}()")
        if "raised" in reply:
            raise _rebuilt_exception(*reply["raised"])
        for before, after in zip(args, reply.get("args_after") or []):
            _copy_mutation(before, after)
        for key, after in (reply.get("kwargs_after") or {}).items():
            _copy_mutation(kwargs.get(key), after)
        return decode(reply["value"])


def fetch(name):
    """The value of the candidate's global `name`, as exact builtin plain data."""
    return decode(_exchange({"fetch": name}, name)["value"])


def _exchange(request, what):
    send(Remote.channel_fd, request)
    reply = receive(Remote.channel_fd)
    if reply is None:
        raise CandidateGone(f"the candidate process ended before answering {what}")
    if "refused" in reply:
        raise PlainDataError(f"{what}: {reply['refused']}")
    if "raised" not in reply and "value" not in reply:
        raise PlainDataError(f"{what}: malformed reply")
    return reply


def _copy_mutation(before, after_tree):
    """A candidate that mutates its list/dict/set argument mutates the tests' copy the same way."""
    if after_tree is None or type(before) not in (list, dict, set):
        return
    after = decode(after_tree)
    if type(after) is type(before) and after != before:
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
        sys.stdout.flush()
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    sys.stdout.flush()
    os.write(verdict_fd, TESTS_DONE)  # the end-of-tests signal: only this process holds verdict_fd
    os._exit(0)
