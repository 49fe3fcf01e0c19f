"""The AWS actions the deployed code calls, found by reading the code.

An AST walk over app.py and chalicelib/ finds two kinds of calls:

- boto3 clients: `client("sesv2").send_email(...)` (chalicelib.adapters.aws.client or
  boto3.client, called inline or held in a variable). The method is mapped
  to its API operation and IAM action through botocore's own service model
  (signing name + operation name, with the few documented exceptions below).
- PynamoDB: operations on the models in chalicelib.adapters.models.ALL_MODELS, on
  their indexes, on batch writers and in transactions, mapped to the DynamoDB
  action and the exact table or index they touch. A model instance is
  recognised by a light, flow-insensitive type inference: constructor calls,
  `Model.get`, iteration over queries, parameter and return annotations, and
  the first argument of a transaction's save/update/delete.

A call the walk cannot place (an instance operation on a value of unknown
type) is reported as unresolved, never guessed: the infra tests fail on it,
and an annotation fixes it. infra/build_template.py turns the result into the
stage's IAM policy; tests/deploy/test_infra.py checks that policy against it.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]

# Where an IAM action is not "<signing name>:<operation name>".
IAM_ACTION_EXCEPTIONS = {
    "s3:HeadObject": "s3:GetObject",
    "s3:HeadBucket": "s3:ListBucket",
    "s3:ListObjects": "s3:ListBucket",
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:ListObjectVersions": "s3:ListBucketVersions",
    "s3:GetObjectAttributes": "s3:GetObject",
    "lambda:Invoke": "lambda:InvokeFunction",
}
# boto3's hand-written helpers on the S3 client, which are not API operations.
S3_TRANSFER_METHODS = {
    "upload_file": ("PutObject",), "upload_fileobj": ("PutObject",),
    "download_file": ("GetObject",), "download_fileobj": ("GetObject",),
    "copy": ("GetObject", "PutObject"),
    "generate_presigned_post": ("PutObject",),  # the browser's upload is signed with the role's own rights
}
CLIENT_HOUSEKEEPING = {"close", "can_paginate", "get_waiter", "meta", "exceptions"}

# PynamoDB operation -> DynamoDB API action, by what it is called on.
CLASS_OPERATIONS = {
    "get": "GetItem", "batch_get": "BatchGetItem", "query": "Query", "scan": "Scan",
    "exists": "DescribeTable", "describe_table": "DescribeTable", "create_table": "CreateTable",
    "delete_table": "DeleteTable", "update_ttl": "UpdateTimeToLive",
}
INDEX_OPERATIONS = {"query": "Query", "scan": "Scan", "count": "Query"}
INSTANCE_OPERATIONS = {"save": "PutItem", "update": "UpdateItem", "delete": "DeleteItem", "refresh": "GetItem"}
TRANSACTION_OPERATIONS = {"save": "PutItem", "update": "UpdateItem", "delete": "DeleteItem",
                          "condition_check": "ConditionCheckItem"}
BATCH_WRITER_OPERATIONS = {"save": "BatchWriteItem", "delete": "BatchWriteItem"}
# Names only PynamoDB uses here: on a value of unknown type they are reported, never skipped.
UNTYPED_READS = {"query", "scan", "batch_get", "batch_write"}
ITERABLE_WRAPPERS = {"list", "sorted", "iter", "reversed", "tuple", "set", "frozenset"}
COLLECTION_ANNOTATIONS = {"list", "List", "Iterable", "Iterator", "Sequence", "tuple", "Tuple", "set",
                          "frozenset", "Generator", "Collection"}


@dataclass(frozen=True, order=True)
class Use:
    """One AWS action the code performs.

    `resource` is ("table", model name) or ("index", model name, index name)
    for DynamoDB, and () for a client call (its resources are the stage's,
    chosen in infra/build_template.py)."""

    action: str
    resource: tuple
    where: str


@dataclass(frozen=True, order=True)
class Unresolved:
    where: str
    call: str
    why: str


@dataclass
class Findings:
    uses: set
    unresolved: list

    def actions(self) -> set[str]:
        return {use.action for use in self.uses}


# Types the inference tracks: ("class", model) the model class; ("model", model)
# an instance; ("index", model, index); ("transaction",) a TransactWrite;
# ("transact_get",); ("batch", model) a batch writer; ("client", service);
# ("function", qualified name); ("module", name); ("tuple", (kinds, ...)) a tuple
# with the kinds of each position; ("each", kind) an iterable of such values.


def _each(kinds) -> set[tuple]:
    return {("each", kind) for kind in kinds}


def _elements(kinds) -> set[tuple]:
    return {kind[1] for kind in kinds if kind[0] == "each"}


def _tuple(positions) -> tuple:
    return ("tuple", tuple(frozenset(kinds) for kinds in positions))


@lru_cache(maxsize=1)
def _models() -> dict[str, type]:
    from chalicelib.adapters.models import ALL_MODELS

    return {f"{model.__module__}.{model.__name__}": model for model in ALL_MODELS}


def model_indexes(model) -> dict[str, str]:
    """Class attribute name -> index name, for each secondary index of the model."""
    from pynamodb.indexes import Index

    found = {}
    for klass in reversed(model.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, Index):
                found[name] = value.Meta.index_name
    return found


@lru_cache(maxsize=None)
def _service_operations(service: str) -> tuple[str, dict[str, str]]:
    import botocore.session
    from botocore import xform_name

    model = botocore.session.get_session().get_service_model(service)
    return model.signing_name, {xform_name(operation): operation for operation in model.operation_names}


def iam_actions(service: str, method: str) -> list[str] | None:
    """The IAM actions a boto3 client method needs, or None if it is not an API call."""
    prefix, operations = _service_operations(service)
    if service == "s3" and method in S3_TRANSFER_METHODS:
        names = S3_TRANSFER_METHODS[method]
    elif method in operations:
        names = (operations[method],)
    else:
        return None
    return [IAM_ACTION_EXCEPTIONS.get(f"{prefix}:{name}", f"{prefix}:{name}") for name in names]


class _Module:
    """One source file: its imports and its module-level functions."""

    def __init__(self, name: str, path: Path, text: str):
        self.name, self.path = name, path
        self.tree = ast.parse(text, filename=str(path))
        self.imports: dict[str, str] = {}
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    self.imports[alias.asname or alias.name.split(".")[0]] = (
                        alias.name if alias.asname else alias.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        self.functions = {node.name: node for node in self.tree.body
                          if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
        # Type aliases (`Name = tuple[Model, ...]`), so annotations that use them name their models too.
        self.aliases = {node.targets[0].id: node.value for node in self.tree.body
                        if isinstance(node, ast.Assign) and len(node.targets) == 1
                        and isinstance(node.targets[0], ast.Name) and isinstance(node.value, (ast.Subscript, ast.BinOp))}

    def qualify(self, name: str) -> str:
        return self.imports.get(name, f"{self.name}.{name}")


class Analysis:
    def __init__(self, project_dir: Path = PROJECT_DIR, sources: dict[str, str] | None = None):
        self.project_dir = project_dir
        if sources is None:  # the deployed code
            paths = [project_dir / "app.py", *sorted((project_dir / "chalicelib").rglob("*.py"))]
            sources = {_module_name(path.relative_to(project_dir)): path.read_text() for path in paths}
        self.modules = {name: _Module(name, project_dir / (name.replace(".", "/") + ".py"), text)
                        for name, text in sources.items()}
        self.findings = Findings(uses=set(), unresolved=[])
        self._returns: dict[str, tuple[tuple, ...]] = {}

    # Resolving names.

    def _resolve(self, qualified: str) -> tuple | None:
        models = _models()
        if qualified in models:
            return ("class", models[qualified])
        if qualified in ("pynamodb.transactions.TransactWrite",):
            return ("transaction_class",)
        if qualified in ("pynamodb.transactions.TransactGet",):
            return ("transact_get_class",)
        if qualified in ("chalicelib.adapters.aws.client", "boto3.client"):
            return ("client_factory",)
        if qualified == "boto3.resource":
            return ("resource_factory",)
        if qualified in self.modules:
            return ("module", qualified)
        module_name, _, function = qualified.rpartition(".")
        if module_name in self.modules and function in self.modules[module_name].functions:
            return ("function", qualified)
        return None

    def _annotation(self, module: _Module, node) -> set[tuple]:
        """The types an annotation names (models, collections of models, transactions)."""
        if node is None:
            return set()
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                return self._annotation(module, ast.parse(node.value, mode="eval").body)
            except SyntaxError:
                return set()
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return self._annotation(module, node.left) | self._annotation(module, node.right)
        if isinstance(node, ast.Subscript):
            outer = node.value.attr if isinstance(node.value, ast.Attribute) else getattr(node.value, "id", "")
            inner = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
            if outer in ("Optional", "Union"):
                return set().union(*(self._annotation(module, element) for element in inner))
            if outer in ("tuple", "Tuple") and not (len(inner) == 2 and isinstance(inner[1], ast.Constant)
                                                     and inner[1].value is Ellipsis):
                return {_tuple([self._annotation(module, element) for element in inner])}
            if outer in COLLECTION_ANNOTATIONS:
                return _each(self._annotation(module, inner[0]))
            return set()
        name = self._dotted(node)
        if name is None:
            return set()
        qualified = module.qualify(name.split(".")[0]) + ("." + name.split(".", 1)[1] if "." in name else "")
        home, _, alias = qualified.rpartition(".")
        if home in self.modules and alias in self.modules[home].aliases:
            return self._annotation(self.modules[home], self.modules[home].aliases[alias])
        resolved = self._resolve(qualified)
        if resolved and resolved[0] == "class":
            return {("model", resolved[1])}
        if resolved == ("transaction_class",):
            return {("transaction",)}
        if resolved == ("transact_get_class",):
            return {("transact_get",)}
        return set()

    @staticmethod
    def _dotted(node) -> str | None:
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name):
            parts.append(node.id)
            return ".".join(reversed(parts))
        return None

    def returns(self, qualified: str) -> set[tuple]:
        if qualified not in self._returns:
            module_name, _, name = qualified.rpartition(".")
            module = self.modules[module_name]
            self._returns[qualified] = tuple(self._annotation(module, module.functions[name].returns))
        return set(self._returns[qualified])

    # Typing expressions.

    def typeof(self, module: _Module, env: dict[str, set], node) -> set[tuple]:
        if isinstance(node, ast.Name):
            if node.id in env:
                return set(env[node.id])
            resolved = self._resolve(module.qualify(node.id))
            return {resolved} if resolved else set()
        if isinstance(node, ast.Attribute):
            found = set()
            for kind in self.typeof(module, env, node.value):
                if kind[0] == "module":
                    resolved = self._resolve(f"{kind[1]}.{node.attr}")
                    if resolved:
                        found.add(resolved)
                elif kind[0] == "class":
                    index = model_indexes(kind[1]).get(node.attr)
                    if index:
                        found.add(("index", kind[1], index))
            return found
        if isinstance(node, ast.Call):
            return self._call_type(module, env, node)
        if isinstance(node, ast.Subscript):  # a slice of a collection is one; an index gives an element
            kinds = self.typeof(module, env, node.value)
            if isinstance(node.slice, ast.Slice):
                return {kind for kind in kinds if kind[0] == "each"}
            found = _elements(kinds)
            if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, int):
                for kind in kinds:
                    if kind[0] == "tuple" and -len(kind[1]) <= node.slice.value < len(kind[1]):
                        found |= kind[1][node.slice.value]
            return found
        if isinstance(node, ast.IfExp):
            return self.typeof(module, env, node.body) | self.typeof(module, env, node.orelse)
        if isinstance(node, ast.BoolOp):
            found = set()
            for value in node.values:
                found |= self.typeof(module, env, value)
            return found
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            each = [self.typeof(module, env, element) for element in node.elts]
            found = _each(set().union(*each))
            if isinstance(node, ast.Tuple):
                found.add(_tuple(each))
            return found
        if isinstance(node, (ast.ListComp, ast.GeneratorExp, ast.SetComp)):
            inner = dict(env)
            self._bind_comprehension(module, inner, node.generators)
            return _each(self.typeof(module, inner, node.elt))
        if isinstance(node, ast.NamedExpr):
            return self.typeof(module, env, node.value)
        return set()

    def _call_type(self, module: _Module, env, node: ast.Call) -> set[tuple]:
        found = set()
        if isinstance(node.func, ast.Name) and node.func.id in ITERABLE_WRAPPERS and node.args:
            return _each(_elements(self.typeof(module, env, node.args[0])))
        if isinstance(node.func, ast.Name) and node.func.id == "next" and node.args:
            return _elements(self.typeof(module, env, node.args[0]))
        if isinstance(node.func, ast.Attribute):
            method = node.func.attr
            for kind in self.typeof(module, env, node.func.value):
                if kind[0] == "class":
                    if method == "get":
                        found.add(("model", kind[1]))
                    elif method in ("query", "scan", "batch_get"):
                        found.add(("each", ("model", kind[1])))
                    elif method == "batch_write":
                        found.add(("batch", kind[1]))
                elif kind[0] == "index" and method in ("query", "scan"):
                    found.add(("each", ("model", kind[1])))
        for kind in self.typeof(module, env, node.func):
            if kind[0] == "class":
                found.add(("model", kind[1]))
            elif kind[0] == "function":
                found |= self.returns(kind[1])
            elif kind[0] == "transaction_class":
                found.add(("transaction",))
            elif kind[0] == "transact_get_class":
                found.add(("transact_get",))
            elif kind[0] == "client_factory":
                service = node.args[0] if node.args else next(
                    (keyword.value for keyword in node.keywords if keyword.arg == "service_name"), None)
                if isinstance(service, ast.Constant) and isinstance(service.value, str):
                    found.add(("client", service.value))
                else:
                    found.add(("client", None))
        return found

    # Binding names.

    def _bind(self, env, target, kinds: set[tuple]) -> None:
        if isinstance(target, ast.Name) and kinds:
            env.setdefault(target.id, set()).update(kinds)
        elif isinstance(target, (ast.Tuple, ast.List)):  # unpacking: position by position
            for kind in kinds:
                if kind[0] == "tuple" and len(kind[1]) == len(target.elts):
                    for element, position in zip(target.elts, kind[1]):
                        self._bind(env, element, set(position))

    def _bind_comprehension(self, module, env, generators) -> None:
        for generator in generators:
            self._bind(env, generator.target, _elements(self.typeof(module, env, generator.iter)))

    def _environment(self, module: _Module, function, outer: dict[str, set]) -> dict[str, set]:
        env = {name: set(kinds) for name, kinds in outer.items()}
        if function is not None:
            arguments = function.args
            for argument in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]:
                self._bind(env, ast.Name(id=argument.arg), self._annotation(module, argument.annotation))
        body = function.body if function is not None else module.tree.body
        for _ in range(3):  # flow-insensitive: a few rounds reach a fixed point for straight code
            for node in self._walk_local(body):
                if isinstance(node, ast.Assign):
                    kinds = self.typeof(module, env, node.value)
                    for target in node.targets:
                        self._bind(env, target, kinds)
                elif isinstance(node, ast.AnnAssign):
                    kinds = self._annotation(module, node.annotation) or (
                        self.typeof(module, env, node.value) if node.value else set())
                    self._bind(env, node.target, kinds)
                elif isinstance(node, ast.NamedExpr):
                    self._bind(env, node.target, self.typeof(module, env, node.value))
                elif isinstance(node, ast.AugAssign):  # found += [...]
                    self._bind(env, node.target, self.typeof(module, env, node.value))
                elif isinstance(node, (ast.For, ast.AsyncFor)):
                    self._bind(env, node.target, _elements(self.typeof(module, env, node.iter)))
                elif isinstance(node, (ast.With, ast.AsyncWith)):
                    for item in node.items:
                        if item.optional_vars is not None:
                            self._bind(env, item.optional_vars, self.typeof(module, env, item.context_expr))
                elif isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
                    self._bind_comprehension(module, env, node.generators)
        return env

    @staticmethod
    def _walk_local(body):
        """Every node of a function body, not descending into nested functions or classes."""
        stack = list(reversed(body))
        while stack:
            node = stack.pop()
            yield node  # a nested definition is yielded (so it can be scanned on its own), not entered
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                stack.extend(reversed(list(ast.iter_child_nodes(node))))

    # Finding calls.

    def run(self) -> Findings:
        for module in self.modules.values():
            module_env = self._environment(module, None, {})
            self._scan(module, module.tree.body, module_env, nested_in=None)
        self.findings.unresolved = sorted(set(self.findings.unresolved))
        return self.findings

    def _scan(self, module: _Module, body, env, nested_in) -> None:
        for node in self._walk_local(body):
            if isinstance(node, ast.Call):
                self._classify(module, env, node)
        for node in self._walk_local(body):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._scan(module, node.body, self._environment(module, node, env), nested_in=node)
            elif isinstance(node, ast.ClassDef):
                self._scan(module, node.body, env, nested_in=node)
            elif isinstance(node, ast.Lambda):
                self._scan(module, [ast.Expr(node.body)], env, nested_in=node)

    def _where(self, module: _Module, node) -> str:
        try:
            path = module.path.relative_to(self.project_dir)
        except ValueError:
            path = module.path
        return f"{path}:{node.lineno}"

    def _use(self, module, node, action: str, resource: tuple = ()) -> None:
        self.findings.uses.add(Use(action, resource, self._where(module, node)))

    def _unresolved(self, module, node, why: str) -> None:
        self.findings.unresolved.append(Unresolved(self._where(module, node), ast.unparse(node)[:120], why))

    def _classify(self, module: _Module, env, node: ast.Call) -> None:
        for kind in self.typeof(module, env, node.func):
            if kind[0] == "resource_factory":
                self._unresolved(module, node, "boto3.resource() is not analysed: use a client")
        if not isinstance(node.func, ast.Attribute):
            return
        method = node.func.attr
        receiver = self.typeof(module, env, node.func.value)
        for kind in receiver:
            if kind[0] == "class" and method in CLASS_OPERATIONS:
                self._use(module, node, f"dynamodb:{CLASS_OPERATIONS[method]}", ("table", kind[1].__name__))
            elif kind[0] == "class" and method == "count":
                action = "Query" if node.args or node.keywords else "DescribeTable"
                self._use(module, node, f"dynamodb:{action}", ("table", kind[1].__name__))
            elif kind[0] == "index" and method in INDEX_OPERATIONS:
                self._use(module, node, f"dynamodb:{INDEX_OPERATIONS[method]}",
                          ("index", kind[1].__name__, kind[2]))
            elif kind[0] == "model" and method in INSTANCE_OPERATIONS:
                self._use(module, node, f"dynamodb:{INSTANCE_OPERATIONS[method]}", ("table", kind[1].__name__))
            elif kind[0] == "batch" and method in BATCH_WRITER_OPERATIONS:
                self._use(module, node, f"dynamodb:{BATCH_WRITER_OPERATIONS[method]}", ("table", kind[1].__name__))
            elif kind[0] == "transaction" and method in TRANSACTION_OPERATIONS:
                self._transaction_operation(module, env, node, method)
            elif kind[0] == "transact_get" and method == "get":
                self._transact_get(module, env, node)
            elif kind[0] == "client":
                self._client_call(module, node, kind[1], method)
        if receiver:
            return
        # An operation on a value whose type the walk does not know.
        if method in UNTYPED_READS:
            self._unresolved(module, node, f"cannot tell which table or index .{method}() reads: "
                                           "annotate the variable with its model or index")
            return
        if method in ("save", "delete", "refresh", "condition_check") or (
                method == "update" and self._looks_like_pynamodb_update(node)):
            first = self.typeof(module, env, node.args[0]) if node.args else set()
            models = {kind[1] for kind in first if kind[0] == "model"}
            if method in TRANSACTION_OPERATIONS and models:  # a transaction passed in as a parameter
                for model in models:
                    self._use(module, node, f"dynamodb:{TRANSACTION_OPERATIONS[method]}", ("table", model.__name__))
            elif method == "condition_check" and node.args and any(
                    kind[0] == "class" for kind in self.typeof(module, env, node.args[0])):
                self._transaction_operation(module, env, node, method)
            else:
                self._unresolved(module, node, f"cannot tell which table .{method}() touches: "
                                               "annotate the variable with its model type")

    @staticmethod
    def _looks_like_pynamodb_update(node: ast.Call) -> bool:
        # dict.update is everywhere; PynamoDB's update takes a list of actions.
        return any(keyword.arg == "actions" for keyword in node.keywords) or bool(
            node.args and isinstance(node.args[0], (ast.List, ast.ListComp)))

    def _transaction_operation(self, module, env, node, method) -> None:
        subject = node.args[0] if node.args else None
        kinds = self.typeof(module, env, subject) if subject is not None else set()
        models = {kind[1] for kind in kinds if kind[0] in ("model", "class")}
        if not models:
            self._unresolved(module, node, f"cannot tell which table a transaction's .{method}() touches")
        for model in models:
            self._use(module, node, f"dynamodb:{TRANSACTION_OPERATIONS[method]}", ("table", model.__name__))

    def _transact_get(self, module, env, node) -> None:
        kinds = self.typeof(module, env, node.args[0]) if node.args else set()
        models = {kind[1] for kind in kinds if kind[0] == "class"}
        if not models:
            self._unresolved(module, node, "cannot tell which table a TransactGet.get() reads")
        for model in models:
            self._use(module, node, "dynamodb:GetItem", ("table", model.__name__))

    def _client_call(self, module, node, service, method) -> None:
        if service is None:
            self._unresolved(module, node, "the client's service is not a string literal")
            return
        if method in CLIENT_HOUSEKEEPING:
            return
        if method in ("get_paginator", "generate_presigned_url"):
            argument = node.args[0] if node.args else None
            if not (isinstance(argument, ast.Constant) and isinstance(argument.value, str)):
                self._unresolved(module, node, f"{method}() of a non-literal operation")
                return
            method = argument.value
        actions = iam_actions(service, method)
        if actions is None:
            self._unresolved(module, node, f"{service} has no operation {method}")
            return
        for action in actions:
            self._use(module, node, action)


def _module_name(relative: Path) -> str:
    return ".".join(relative.with_suffix("").parts).removesuffix(".__init__")


def analyse(project_dir: Path = PROJECT_DIR, sources: dict[str, str] | None = None) -> Findings:
    """What the code in app.py and chalicelib/ (or the given sources) calls on AWS."""
    return Analysis(project_dir, sources).run()
