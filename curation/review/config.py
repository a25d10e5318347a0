"""Review settings files (argilla_configs/*.yaml): load, validate, and build `argilla.Settings`.

Each field, question, metadata property and vector is checked by the argilla SDK class it
becomes (`rg.TextField`, `rg.RatingQuestion`, ...), constructed without a server, so a wrong
file fails before anything is sent. This module adds only what the SDK does not know: the
top-level keys, `kind`, the contract names (curation/contract.py), the preference expansion,
and two server rules the SDK leaves to the server. Every error names the file and the key, e.g.
``argilla_configs/sft.yaml: questions[1].type: unknown type 'ratng'``.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import yaml

from curation import settings as env
from curation.contract import CONTRACT, RANKING, rating_question, response_field
from curation.errors import ConfigError

KINDS = ("sft", "preference")
AUTO = "auto"
SECTIONS = ("fields", "questions", "metadata", "vectors")
_TOP = ("name", "kind", "num_responses", "rating_values", "guidelines", *SECTIONS, "distribution", "priority")
_NOUN = {"fields": "field", "questions": "question", "metadata": "metadata property", "vectors": "vector"}
# The SDK's names for settings whose file keys read differently (`labels` becomes `options`, ...).
_SDK_KEYS = {"options": ("labels", "values"), "values": ("options",), "visible_options": ("visible_labels",),
             "options_order": ("labels_order",)}
# Rules argilla-server enforces and the SDK does not check: names, and the rating scale.
_NAME = re.compile(r"^(?=.*[a-z0-9])[a-z0-9_-]+$")
_RATING = range(0, 11)

# Stands in for the client while the SDK classes check a file: their constructors only keep
# `api.<resource>` for later requests, and validation makes none (no server is needed).
_UNSENT = SimpleNamespace(api=SimpleNamespace(fields=None, questions=None, metadata=None, vectors=None))


def _classes(section: str) -> dict[str | None, type]:
    """Our `type` names -> the SDK class of each; vectors have no type."""
    import argilla as rg

    return {
        "fields": {"text": rg.TextField, "image": rg.ImageField, "chat": rg.ChatField, "custom": rg.CustomField},
        "questions": {
            "rating": rg.RatingQuestion,
            "label": rg.LabelQuestion,
            "multi_label": rg.MultiLabelQuestion,
            "text": rg.TextQuestion,
            "ranking": rg.RankingQuestion,
            "span": rg.SpanQuestion,
        },
        "metadata": {
            "terms": rg.TermsMetadataProperty,
            "integer": rg.IntegerMetadataProperty,
            "float": rg.FloatMetadataProperty,
        },
        "vectors": {None: rg.VectorField},
    }[section]


def _sdk_object(fail, section: str, at: str, item: Any, client):
    """The SDK object `item` describes, built by its class; the class's errors name `at` and the key."""
    from pydantic import ValidationError

    from curation.upstream.argilla import ArgillaError

    if not isinstance(item, dict):
        raise fail(at, f"expected a mapping, got {item!r}")
    classes = _classes(section)
    typed = None not in classes
    kind = item.get("type") if typed else None
    if kind not in classes:
        problem = "missing" if kind is None else f"unknown type {kind!r}"
        raise fail(f"{at}.type", f"{problem} (expected one of {', '.join(classes)})")
    make = classes[kind]
    params = inspect.signature(make).parameters
    keys = [key for key in params if key not in ("client", "_client")]
    kwargs = {key: value for key, value in item.items() if not (typed and key == "type")}
    for key in kwargs:
        if key not in keys:
            raise fail(f"{at}.{key}", f"unknown key (expected one of {', '.join((['type'] if typed else []) + keys)})")
    for key in keys:
        if params[key].default is inspect.Parameter.empty and key not in kwargs:
            raise fail(f"{at}.{key}", f"required for a {' '.join(filter(None, (kind, _NOUN[section])))}")
    kwargs["client" if "client" in params else "_client"] = client
    try:
        return make(**kwargs)
    except ArgillaError as exc:
        if isinstance(exc.__cause__, ValidationError):  # the metadata classes wrap pydantic's error
            raise fail(*_located(at, item, exc.__cause__)) from None
        raise fail(at, exc.args[0] if exc.args else str(exc)) from None
    except ValueError as exc:  # pydantic's ValidationError, or labels/values neither a list nor a mapping
        raise fail(*_located(at, item, exc)) from None


def _located(at: str, item: dict, exc: ValueError) -> tuple[str, str]:
    """(`at.key`, message) for the SDK's error, `key` as the file spells it."""
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        sdk_key = str(error["loc"][0]) if error["loc"] else ""
        message = str(error["ctx"]["error"]) if error["type"] == "value_error" else error["msg"]
    else:
        sdk_key, message = "options", str(exc)
    key = sdk_key if sdk_key in item else next((k for k in _SDK_KEYS.get(sdk_key, ()) if k in item), "")
    if not key:
        return at, message
    return f"{at}.{key}", f"{message.rstrip('.')}, got {item[key]!r}"


def _failer(where: str) -> Callable[[str, str], ConfigError]:
    def fail(key: str, problem: str) -> ConfigError:
        return ConfigError(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")

    return fail


@dataclass(frozen=True)
class ReviewConfig:
    """A validated settings file; `settings(client)` builds the `argilla.Settings`."""

    path: Path
    kind: str
    num_responses: int | None
    guidelines: str | None
    fields: tuple[dict, ...]
    questions: tuple[dict, ...]
    metadata: tuple[dict, ...]
    vectors: tuple[dict, ...]
    min_submitted: int
    # Review priority weights by mode (curation/review/priority.py): the file's, else the defaults.
    priority: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)

    def priority_weights(self, mode: str) -> dict[str, float]:
        from curation.review.priority import DEFAULT_WEIGHTS

        return self.priority.get(mode) or DEFAULT_WEIGHTS.get(mode, {})

    @property
    def display(self) -> str:
        return display_path(self.path)

    def question(self, name: str) -> dict | None:
        return next((q for q in self.questions if q["name"] == name), None)

    def settings(self, client) -> "argilla.Settings":  # noqa: F821 - argilla is imported lazily
        """The `argilla.Settings` this file describes, bound to `client`."""
        import argilla as rg

        fail = _failer(self.display)
        built = {
            section: [_sdk_object(fail, section, f"{section}[{i}]", item, client) for i, item in enumerate(items)]
            for section, items in zip(SECTIONS, (self.fields, self.questions, self.metadata, self.vectors))
        }
        distribution = rg.TaskDistribution(min_submitted=self.min_submitted)
        return rg.Settings(guidelines=self.guidelines, distribution=distribution, **built)


def display_path(path: Path) -> str:
    """`path` relative to the working folder when it is under it, as users typed it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def configs_dir() -> Path:
    """`$CURATION_CONFIGS_DIR`, else the settings files shipped in the package (argilla_configs/)."""
    from importlib.resources import files

    return env.configs_dir() or Path(str(files("curation.argilla_configs")))


def default_config_path(kind: str) -> Path:
    """The settings file used for a batch of `kind` when none is given."""
    return configs_dir() / f"{kind}.yaml"


def load_config(path: str | Path, *, num_responses: int | None = None) -> ReviewConfig:
    """Read and validate a settings file; `num_responses` is the batch's count for `num_responses: auto`."""
    import argilla as rg
    from pydantic import ValidationError

    from curation.upstream.argilla import SettingsError

    path = Path(path)
    where = display_path(path)
    fail = _failer(where)
    data = _read(path, where)
    if not isinstance(data, dict):
        raise fail("", "expected a mapping of settings (fields, questions, ...)")
    for key in data:
        if key not in _TOP:
            raise fail(str(key), f"unknown key (expected one of {', '.join(_TOP)})")

    kind = data.get("kind")
    if kind not in KINDS:
        raise fail("kind", f"expected one of {', '.join(KINDS)}, got {kind!r}")
    if kind != "preference":
        for key in ("num_responses", "rating_values"):
            if key in data:
                raise fail(key, "only used by kind preference")
    guidelines = data.get("guidelines")
    try:
        rg.Settings(guidelines=guidelines)  # no client: Settings connects only when asked to fetch or create
    except SettingsError as exc:
        raise fail("guidelines", f"{exc.args[0]}, got {guidelines!r}") from None

    items: dict[str, list] = {}
    for section in SECTIONS:
        raw = data.get(section) or []
        if not isinstance(raw, list):
            raise fail(section, "expected a list")
        items[section] = [dict(item) if isinstance(item, dict) else item for item in raw]
    n = None
    if kind == "preference":
        n = _responses(fail, data.get("num_responses", AUTO), num_responses)
        _fill_ranking(fail, items["questions"], n)
    _check_items(fail, kind, items)

    fields, questions = items["fields"], items["questions"]
    if kind == "preference":
        values = _rating_scale(fail, "rating_values", data.get("rating_values", [1, 2, 3, 4, 5]))
        fields = fields + [
            {"type": "text", "name": response_field(i), "title": f"Response {i}", "use_markdown": True, "required": True}
            for i in range(1, n + 1)
        ]
        questions = [
            {"type": "rating", "name": rating_question(i), "title": f"Rate response {i}", "values": values, "required": True}
            for i in range(1, n + 1)
        ] + questions

    field_names = {f["name"] for f in fields}
    for index, question in enumerate(items["questions"]):
        if question["type"] == "span" and question["field"] not in field_names:
            raise fail(f"questions[{index}].field", f"no field named {question['field']!r}")
    for section, declared in (("fields", fields), ("questions", questions)):
        types = {item["name"]: item["type"] for item in declared}
        for name, expected in CONTRACT[kind][section].items():
            if name not in types:
                raise fail(section, f"missing {name!r} ({expected}): push fills it and export reads it")
            if types[name] != expected:
                raise fail(f"{section}.{name}.type", f"must be {expected!r} (export reads it), got {types[name]!r}")
    declared = {item["name"]: item["type"] for item in items["metadata"]}
    for name, expected in CONTRACT[kind]["metadata"].items():  # optional, but push fills them typed as listed
        if name in declared and declared[name] != expected:
            raise fail(f"metadata.{name}.type", f"must be {expected!r} (push fills it), got {declared[name]!r}")

    distribution = data.get("distribution") or {}
    if not isinstance(distribution, dict):
        raise fail("distribution", "expected a mapping like {min_submitted: 1}")
    for key in distribution:
        if key != "min_submitted":
            raise fail(f"distribution.{key}", "unknown key (expected min_submitted)")
    try:
        min_submitted = rg.TaskDistribution(min_submitted=distribution.get("min_submitted", 1)).min_submitted
    except ValidationError as exc:
        raise fail(*_located("distribution", distribution, exc)) from None

    return ReviewConfig(
        path=path,
        kind=kind,
        num_responses=n,
        guidelines=guidelines,
        fields=tuple(fields),
        questions=tuple(questions),
        metadata=tuple(items["metadata"]),
        vectors=tuple(items["vectors"]),
        min_submitted=min_submitted,
        priority=_priority_weights(fail, kind, data.get("priority")),
    )


def _priority_weights(fail, kind: str, block: Any) -> dict[str, dict[str, float]]:
    """`priority:`: {mode: {component: weight >= 0}}, for the modes that score this kind of batch."""
    from curation.review.priority import DEFAULT_WEIGHTS, MODE_KIND

    if block is None:
        return {}
    if not isinstance(block, dict):
        raise fail("priority", f"expected a mapping like {{{next(m for m, k in MODE_KIND.items() if k == kind)}: "
                               "{component: weight}}}, got " + repr(block))
    weights = {}
    for mode, given in block.items():
        if mode not in DEFAULT_WEIGHTS:
            raise fail(f"priority.{mode}", f"unknown mode (expected one of {', '.join(DEFAULT_WEIGHTS)})")
        if MODE_KIND[mode] != kind:
            raise fail(f"priority.{mode}", f"scores {MODE_KIND[mode]} batches, and this file is kind {kind}")
        if not isinstance(given, dict):
            raise fail(f"priority.{mode}", f"expected a mapping of component: weight, got {given!r}")
        for name, weight in given.items():
            if name not in DEFAULT_WEIGHTS[mode]:
                raise fail(f"priority.{mode}.{name}",
                           f"unknown component (expected one of {', '.join(DEFAULT_WEIGHTS[mode])})")
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight < float("inf"):
                raise fail(f"priority.{mode}.{name}", f"expected a weight, a number >= 0, got {weight!r}")
        if not any(given.values()):
            raise fail(f"priority.{mode}", "every weight is 0: give at least one component a weight")
        weights[mode] = {name: float(given.get(name, 0)) for name in DEFAULT_WEIGHTS[mode]}
    return weights


def _read(path: Path, where: str) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such settings file", hint=f"the defaults are in {configs_dir()}") from None
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not a YAML settings file (not UTF-8 text)") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}: " if mark else ""
        raise ConfigError(f"{where}: invalid YAML: {at}{getattr(exc, 'problem', None) or exc}") from None


def _check_items(fail, kind: str, items: dict[str, list]) -> None:
    """Build each item with its SDK class (no server), then check what the SDK leaves to the server."""
    import argilla as rg

    seen: dict[str, str] = {}  # Argilla wants names unique across all four sections
    for section in SECTIONS:
        for index, item in enumerate(items[section]):
            at = f"{section}[{index}]"
            built = _sdk_object(fail, section, at, item, _UNSENT)
            try:
                rg.Settings(**{section: [built]})  # the SDK refuses names its collections use (count, index)
            except ValueError as exc:
                raise fail(f"{at}.name", str(exc)) from None
            if "required" in item:
                item["required"] = built.required  # as the SDK read it (YAML 'no' is a string to us)
            _check_name(fail, f"{at}.name", item["name"], kind, seen, section)
            if item.get("type") == "rating" and section == "questions":
                _rating_scale(fail, f"{at}.values", item["values"])


def _check_name(fail, key: str, name: str, kind: str, seen: dict[str, str], section: str) -> None:
    """argilla-server's name rule, names unique across sections, and the names preference generates."""
    if not _NAME.match(name):
        raise fail(key, f"invalid name {name!r} (use lowercase letters, digits, '_' and '-')")
    if kind == "preference" and section in ("fields", "questions") and re.fullmatch(r"(response|rating)_\d+", name):
        raise fail(key, f"{name!r} is generated from num_responses; remove it")
    if name in seen:
        raise fail(key, f"{name!r} is already used in {seen[name]}")
    seen[name] = section


def _rating_scale(fail, key: str, values: Any) -> list[int]:
    """argilla-server's rating scale (the SDK checks only that values are distinct)."""
    if not isinstance(values, list) or not 2 <= len(values) <= 11:
        raise fail(key, f"expected a list of 2 to 11 integers, got {values!r}")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, int) or value not in _RATING:
            raise fail(key, f"rating values must be integers from 0 to 10, got {value!r}")
    if len(set(values)) != len(values):
        raise fail(key, f"rating values must be unique, got {values!r}")
    return list(values)


def _responses(fail, declared: Any, counted: int | None) -> int:
    """How many responses each preference record shows: declared, or counted from the batch."""
    if declared == AUTO:
        if counted is None:
            raise fail("num_responses", "'auto' takes the count from a batch; give a number or push a batch")
        declared = counted
    elif counted is not None and declared != counted:
        raise fail("num_responses", f"is {declared!r} but the batch has {counted} responses per row")
    if isinstance(declared, bool) or not isinstance(declared, int) or not 2 <= declared <= 50:
        raise fail("num_responses", f"expected 2 to 50 responses, got {declared!r}")
    return declared


def _fill_ranking(fail, questions: list, n: int) -> None:
    """Give the preference ranking its values, response_1 .. response_n, unless the file lists the same."""
    expected = {response_field(i): f"Response {i}" for i in range(1, n + 1)}
    for index, question in enumerate(questions):
        if isinstance(question, dict) and question.get("name") == RANKING and question.get("type") == "ranking":
            given = question.get("values")
            if given is not None and (not isinstance(given, (list, dict)) or sorted(map(str, given)) != sorted(expected)):
                raise fail(f"questions[{index}].values", f"must be {sorted(expected)} for {n} responses; omit it")
            question["values"] = given or expected
