"""Judging a program from outside its address space: the program and the tests run in two processes.

Compiled with :mod:`fusionbench.metrics.sandbox_child` and run in the sandboxed child, never imported for use
in the scorer. The harness forks: the *program process* runs the model's program and the setup code (under
the Python guard), then serves requests; the *judge process*, in which no model code ever runs, runs the
tests. Each name the tests use that the program defines is fetched from the program process: data (None,
bool, int, float, complex, str, bytes and tuples, lists, dicts, sets and frozensets of them) is copied as
text and rebuilt here by :func:`_decode`, which accepts nothing but those literals; anything else (a
function, a class, an instance, a generator) becomes a :class:`_Remote` handle whose calls and attribute
reads are requests to the program process, whose results come back the same way. So every value the tests
compare is plain data built in the judge (an object with an ``__eq__`` that always says yes does not cross:
its handle refuses to be compared or truth-tested), and the verdict is the judge's exit status, which the
program cannot write: the judge is not dumpable (no ptrace, no ``/proc/<pid>/mem``), holds no pipe end the
program could use to speak for it, and the scorer reads nothing the program prints.

What stays with the program: a name that is also a builtin is taken from it only for the function under
test (``f`` of ``assert f(1, 2) == 3``, ``x`` of ``check(x)``), so a program's ``set`` or ``sorted`` does not
replace the builtin the tests use as a helper; builtins themselves (``int``, ``len``) cross by name; a
module it imported is re-imported in the judge when it is in the standard library, else it is a handle;
arguments are copied, so a test that checks that the program mutated its argument in place sees the copy
unchanged (no HumanEval or MBPP test does; all 1,138 canonical solutions pass).
"""

# ruff: noqa: UP031

#: Largest request or reply, in bytes.
MAX_MESSAGE = 64 * 1024 * 1024
#: Containers nested deeper than this cross as handles.
MAX_DEPTH = 60


def _encode(value, other):
    """``value`` as literal text; ``other(v)`` gives the text for a value that is not data."""
    parts = []
    size = [0]

    def put(text):
        size[0] += len(text)
        if size[0] > MAX_MESSAGE:
            raise ValueError("the value is too large to pass between the program and the tests")
        parts.append(text)

    def enc(v, depth):
        t = type(v)
        if v is None or t is bool:
            put(repr(v))
        elif isinstance(v, int) and not isinstance(v, bool):
            i = int(v)
            put(repr(i) if -(10**1000) < i < 10**1000 else hex(i))
        elif isinstance(v, float):
            put(repr(float(v)))
        elif isinstance(v, complex):
            put("complex(%r, %r)" % (v.real, v.imag))
        elif isinstance(v, str):
            put(repr(str.__str__(v)))
        elif isinstance(v, (bytes, bytearray)):
            put(repr(bytes(v)))
        elif depth > MAX_DEPTH or not isinstance(v, (tuple, list, dict, set, frozenset)):
            put(other(v))
        elif isinstance(v, dict):
            put("{")
            for key, item in dict.items(v):
                enc(key, depth + 1)
                put(":")
                enc(item, depth + 1)
                put(",")
            put("}")
        else:
            opening, closing = {tuple: ("(", ")"), list: ("[", "]"), set: ("S([", "])"), frozenset: ("F([", "])")}[
                next(k for k in (tuple, list, set, frozenset) if isinstance(v, k))
            ]
            put(opening)
            for item in v:
                enc(item, depth + 1)
                put(",")
            put(closing)

    enc(value, 0)
    return "".join(parts)


def _decode(text, resolve, module):
    """Rebuild a value from :func:`_encode`'s text, accepting literals only.

    ``resolve(n)`` gives the object for a handle ``H(n)`` and ``module(name, n)`` the one for ``M(name, n)``.
    """
    import _ast as ast  # the C module: ``ast`` itself costs a child ~20 ms to import
    import builtins

    tree = compile(text, "<data>", "eval", ast.PyCF_ONLY_AST, dont_inherit=True)
    numbers = (int, float, complex)

    def dec(node):
        kind = type(node)
        if kind is ast.Constant and type(node.value) in (int, float, complex, str, bytes, bool, type(None)):
            return node.value
        if kind is ast.Tuple:
            return tuple(dec(e) for e in node.elts)
        if kind is ast.List:
            return [dec(e) for e in node.elts]
        if kind is ast.Dict and None not in node.keys:
            return {dec(k): dec(v) for k, v in zip(node.keys, node.values, strict=True)}
        if kind is ast.Name and node.id in ("inf", "nan"):
            return float(node.id)
        if kind is ast.UnaryOp and type(node.op) in (ast.USub, ast.UAdd):
            value = dec(node.operand)
            if type(value) in numbers:
                return -value if type(node.op) is ast.USub else value
        if kind is ast.Call and type(node.func) is ast.Name and not node.keywords:
            name, args = node.func.id, [dec(a) for a in node.args]
            if name in ("S", "F") and len(args) == 1 and type(args[0]) is list:
                return set(args[0]) if name == "S" else frozenset(args[0])
            if name == "H" and len(args) == 1 and type(args[0]) is int:
                return resolve(args[0])
            if name == "M" and len(args) == 2 and type(args[0]) is str and type(args[1]) is int:
                return module(args[0], args[1])
            if name == "B" and len(args) == 1 and type(args[0]) is str and hasattr(builtins, args[0]):
                return getattr(builtins, args[0])  # a builtin (``int``, ``len``): this side's own
            if name == "complex" and len(args) == 2 and all(type(a) is float for a in args):
                return complex(args[0], args[1])
        raise ValueError("not a literal: %s" % type(node).__name__)

    return dec(tree.body)


def _send(fd, data):
    import os

    data = len(data).to_bytes(8, "little") + data
    while data:
        data = data[os.write(fd, data) :]


def _recv(fd):
    """One message, or None at end of file."""
    import os

    def exactly(n):
        chunks, left = [], n
        while left:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    head = exactly(8)
    if head is None:
        return None
    size = int.from_bytes(head, "little")
    if size > MAX_MESSAGE:
        raise ValueError("message too large")
    return exactly(size)


def _serve(rfd, wfd, namespace):
    """The program process: answer the judge's requests until it hangs up, then exit."""
    import builtins
    import os
    import sys

    table = {}

    def handle(v):
        name = getattr(v, "__name__", None)
        if type(name) is str and getattr(builtins, name, None) is v:
            return "B(%r)" % name
        table[len(table) + 1] = v
        if isinstance(v, type(sys)):
            return "M(%r, %d)" % (str(v.__name__), len(table))
        return "H(%d)" % len(table)

    def resolve(n):
        return table[n]

    while True:
        data = _recv(rfd)
        if data is None:
            os._exit(0)
        try:
            op, *args = _decode(data.decode("utf-8", "surrogatepass"), resolve, lambda name, n: table[n])
            if op == "names":
                result = {name: namespace[name] for name in args[0] if name in namespace}
            elif op == "call":
                result = args[0](*args[1], **args[2])
            else:
                result = getattr(args[0], args[1])
            reply = _encode(("ok", result), handle)
        except BaseException as exc:
            try:
                reply = _encode(("err", type(exc).__name__, str(exc)[:1000]), handle)
            except BaseException:
                reply = "('err', 'RuntimeError', 'unprintable exception')"
        _send(wfd, reply.encode("utf-8", "surrogatepass"))


class ProgramGone(Exception):
    """The program process ended (or broke the protocol) before the tests finished."""


def _judge(rfd, wfd, source):
    """The judge process: run the tests ``source`` against the program process; raise if they fail."""
    import builtins
    import sys

    code = compile(source, "<tests>", "exec", dont_inherit=True)
    remotes = {}

    def request(message):
        data = _encode(message, outgoing).encode("utf-8", "surrogatepass")
        try:
            _send(wfd, data)
            data = _recv(rfd)
        except OSError as exc:
            raise ProgramGone("the program stopped answering: %s" % exc) from None
        if data is None:
            raise ProgramGone("the program ended before the tests finished")
        try:
            reply = _decode(data.decode("utf-8", "surrogatepass"), remote, module)
        except (ValueError, SyntaxError, MemoryError, RecursionError, UnicodeDecodeError) as exc:
            raise ProgramGone("the program sent something that is not data: %s" % exc) from None
        if type(reply) is tuple and len(reply) == 2 and reply[0] == "ok":
            return reply[1]
        if type(reply) is tuple and len(reply) == 3 and reply[0] == "err" and type(reply[1]) is str:
            error = getattr(builtins, reply[1], None)
            if not (isinstance(error, type) and issubclass(error, Exception)):
                error = RuntimeError
            raise error("%s (raised by the program)" % (reply[2],))
        raise ProgramGone("the program broke the protocol")

    class Remote:
        """An object of the program: callable and readable through requests, never compared or truth-tested."""

        __slots__ = ("_n",)

        def __init__(self, n):
            self._n = n

        def __call__(self, *args, **kwargs):
            return request(("call", self, args, kwargs))

        def __getattr__(self, name):
            if name.startswith("__"):
                raise AttributeError(name)
            return request(("getattr", self, name))

        def _refuse(self, *args):
            raise TypeError("an object of the program (not data) cannot be compared or truth-tested in the tests")

        __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __bool__ = __len__ = __iter__ = _refuse
        __hash__ = object.__hash__

        def __repr__(self):
            return "<object %d of the program>" % self._n

    def remote(n):
        if n not in remotes:
            remotes[n] = Remote(n)
        return remotes[n]

    def module(name, n):
        if name.split(".")[0] in sys.stdlib_module_names:
            __import__(name)
            return sys.modules[name]
        return remote(n)

    def outgoing(v):
        if type(v) is Remote:
            return "H(%d)" % v._n
        name = getattr(v, "__name__", None)
        if type(name) is str and getattr(builtins, name, None) is v:
            return "B(%r)" % name
        raise TypeError("the tests cannot pass %s to the program: only data and its own objects cross" % type(v))

    names, stack = set(), [code]
    while stack:
        current = stack.pop()
        names.update(current.co_names)
        stack.extend(c for c in current.co_consts if type(c) is type(code))
    tested = _under_test(source)
    wanted = tuple(sorted(n for n in names if not hasattr(builtins, n) or n in tested))
    namespace = {"__name__": "__sandbox__", "__builtins__": builtins}
    namespace.update(request(("names", wanted)))
    exec(code, namespace)


def _under_test(source):
    """The functions the tests test by name: ``f`` of a top-level ``assert f(<no calls>) == ...`` and ``x`` of
    ``check(x)``. Only these may shadow a builtin (MBPP asks for a function named ``sum``); a builtin the tests
    use as a helper (``set(f(x)) == set(...)``) stays the judge's own."""
    import _ast as ast

    def walk(node):
        yield node
        for field in node._fields:
            value = getattr(node, field, None)
            for child in value if type(value) is list else [value]:
                if isinstance(child, ast.AST):
                    yield from walk(child)

    names = set()
    for node in compile(source, "<tests>", "exec", ast.PyCF_ONLY_AST, dont_inherit=True).body:
        if type(node) is ast.Assert:
            test = node.test
            while type(test) is ast.UnaryOp and type(test.op) is ast.Not:
                test = test.operand
            call = test.left if type(test) is ast.Compare else test
            if type(call) is ast.Call and type(call.func) is ast.Name:
                inner = [n for a in (*call.args, *call.keywords) for n in walk(a) if type(n) is ast.Call]
                if not inner:
                    names.add(call.func.id)
        elif type(node) is ast.Expr and type(node.value) is ast.Call and getattr(node.value.func, "id", "") == "check":
            names.update(a.id for a in node.value.args if type(a) is ast.Name)
    return names
