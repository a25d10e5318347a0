"""Review settings files (argilla_configs/*.yaml): load, validate, and build `argilla.Settings`.

Validation is plain Python and needs no server, so a wrong file fails before anything is
sent; every error names the file and the key, e.g.
``argilla_configs/sft.yaml: questions[1].type: unknown type 'ratng'``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from curation import settings as env
from curation.contract import CONTRACT, RANKING, rating_question, response_field
from curation.errors import ConfigError

KINDS = ("sft", "preference")
AUTO = "auto"

_NAME = re.compile(r"^(?=.*[a-z0-9])[a-z0-9_-]+$")  # what argilla-server accepts for names


def _str(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value


def _name(value: Any) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(f"invalid name {value!r} (use lowercase letters, digits, '_' and '-')")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"expected an integer, got {value!r}")
    return value


def _positive_int(value: Any) -> int:
    if _int(value) < 1:
        raise ValueError(f"expected an integer >= 1, got {value!r}")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"expected a number, got {value!r}")
    return float(value)


def _rating_values(value: Any) -> list[int]:
    if not isinstance(value, list) or not 2 <= len(value) <= 11:
        raise ValueError(f"expected a list of 2 to 11 integers, got {value!r}")
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or not 0 <= item <= 10:
            raise ValueError(f"rating values must be integers from 0 to 10, got {item!r}")
    if len(set(value)) != len(value):
        raise ValueError(f"rating values must be unique, got {value!r}")
    return list(value)


def _labels(value: Any) -> list[str] | dict[str, str]:
    """A list of labels, or a mapping label -> title shown in the UI."""
    keys = list(value) if isinstance(value, (list, dict)) else None
    if not keys or len(keys) < 2 or not all(isinstance(k, str) and k for k in keys):
        raise ValueError(f"expected at least 2 labels (a list, or a mapping label: title), got {value!r}")
    if len(set(keys)) != len(keys):
        raise ValueError(f"labels must be unique, got {keys!r}")
    return dict(value) if isinstance(value, dict) else list(value)


def _options(value: Any) -> list:
    if not isinstance(value, list) or not value:
        raise ValueError(f"expected a non-empty list, got {value!r}")
    return list(value)


def _choice(*allowed: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {value!r}")
        return value

    return check


_PROPERTY = {"name": _name, "type": _str, "title": _str, "description": _str, "required": _bool}
FIELD_TYPES = {
    "text": {"use_markdown": _bool},
    "image": {},
    "chat": {"use_markdown": _bool},
    "custom": {"template": _str, "advanced_mode": _bool},
}
QUESTION_TYPES = {
    "rating": {"values": _rating_values},
    "label": {"labels": _labels, "visible_labels": _int},
    "multi_label": {"labels": _labels, "visible_labels": _int, "labels_order": _choice("natural", "suggestion")},
    "text": {"use_markdown": _bool},
    "ranking": {"values": _labels},
    "span": {"field": _name, "labels": _labels, "allow_overlapping": _bool, "visible_labels": _int},
}
_QUESTION_REQUIRES = {"rating": ("values",), "label": ("labels",), "multi_label": ("labels",), "span": ("field", "labels")}
_METADATA = {"name": _name, "type": _str, "title": _str, "visible_for_annotators": _bool}
METADATA_TYPES = {"terms": {"options": _options}, "integer": {"min": _int, "max": _int}, "float": {"min": _number, "max": _number}}
_VECTOR = {"name": _name, "dimensions": _positive_int, "title": _str}
_TOP = ("name", "kind", "num_responses", "rating_values", "guidelines", "fields", "questions", "metadata", "vectors", "distribution")


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

    @property
    def display(self) -> str:
        return display_path(self.path)

    def question(self, name: str) -> dict | None:
        return next((q for q in self.questions if q["name"] == name), None)

    def settings(self, client) -> "argilla.Settings":  # noqa: F821 - argilla is imported lazily
        """The `argilla.Settings` this file describes, bound to `client`."""
        import argilla as rg

        def build(section: str, index: int, item: dict, make: Callable[..., Any]):
            kwargs = {k: v for k, v in item.items() if k != "type"}
            try:
                return make(**kwargs)
            except Exception as exc:  # the SDK's own checks, in case ours let something through
                raise ConfigError(f"{self.display}: {section}[{index}]: {exc}") from exc

        field_classes = {
            "text": lambda **kw: rg.TextField(client=client, **kw),
            "image": lambda **kw: rg.ImageField(_client=client, **kw),
            "chat": lambda **kw: rg.ChatField(_client=client, **kw),
            "custom": lambda **kw: rg.CustomField(_client=client, **kw),
        }
        question_classes = {
            "rating": rg.RatingQuestion,
            "label": rg.LabelQuestion,
            "multi_label": rg.MultiLabelQuestion,
            "text": rg.TextQuestion,
            "ranking": rg.RankingQuestion,
            "span": rg.SpanQuestion,
        }
        metadata_classes = {
            "terms": rg.TermsMetadataProperty,
            "integer": rg.IntegerMetadataProperty,
            "float": rg.FloatMetadataProperty,
        }
        return rg.Settings(
            guidelines=self.guidelines,
            fields=[build("fields", i, f, field_classes[f["type"]]) for i, f in enumerate(self.fields)],
            questions=[
                build("questions", i, q, lambda **kw: question_classes[q["type"]](client=client, **kw))
                for i, q in enumerate(self.questions)
            ],
            metadata=[
                build("metadata", i, m, lambda **kw: metadata_classes[m["type"]](client=client, **kw))
                for i, m in enumerate(self.metadata)
            ],
            vectors=[
                build("vectors", i, v, lambda **kw: rg.VectorField(_client=client, **kw))
                for i, v in enumerate(self.vectors)
            ],
            distribution=rg.TaskDistribution(min_submitted=self.min_submitted),
        )


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
    path = Path(path)
    where = display_path(path)

    def fail(key: str, problem: str) -> ConfigError:
        return ConfigError(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")

    try:
        data = yaml.safe_load(path.read_text())
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
    if guidelines is not None:
        guidelines = _check(fail, "guidelines", guidelines, _str)

    fields = _items(fail, data, "fields", FIELD_TYPES, _PROPERTY)
    questions = _items(fail, data, "questions", QUESTION_TYPES, _PROPERTY)
    metadata = _items(fail, data, "metadata", METADATA_TYPES, _METADATA)
    vectors = _items(fail, data, "vectors", None, _VECTOR)
    for index, question in enumerate(questions):
        required = _QUESTION_REQUIRES.get(question["type"], ())
        if question["type"] == "ranking" and not (kind == "preference" and question["name"] == RANKING):
            required = ("values",)  # the preference ranking's values come from num_responses
        for key in required:
            if key not in question:
                raise fail(f"questions[{index}].{key}", f"required for a {question['type']} question")
    seen: dict[str, str] = {}  # Argilla wants names unique across all four sections
    for section, items in (("fields", fields), ("questions", questions), ("metadata", metadata), ("vectors", vectors)):
        for index, item in enumerate(items):
            if item["name"] in seen:
                raise fail(f"{section}[{index}].name", f"{item['name']!r} is already used in {seen[item['name']]}")
            seen[item["name"]] = section

    n = None
    if kind == "preference":
        n = _responses(fail, data.get("num_responses", AUTO), num_responses)
        fields, questions = _expand_preference(fail, data, fields, questions, n)

    field_names = {f["name"] for f in fields}
    for index, question in enumerate(questions):
        if question["type"] == "span" and question["field"] not in field_names:
            raise fail(f"questions[{index}].field", f"no field named {question['field']!r}")
    for section, items in (("fields", fields), ("questions", questions)):
        types = {item["name"]: item["type"] for item in items}
        for name, expected in CONTRACT[kind][section].items():
            if name not in types:
                raise fail(section, f"missing {name!r} ({expected}): push fills it and export reads it")
            if types[name] != expected:
                raise fail(f"{section}.{name}.type", f"must be {expected!r} (export reads it), got {types[name]!r}")

    distribution = data.get("distribution") or {}
    if not isinstance(distribution, dict):
        raise fail("distribution", "expected a mapping like {min_submitted: 1}")
    for key in distribution:
        if key != "min_submitted":
            raise fail(f"distribution.{key}", "unknown key (expected min_submitted)")
    min_submitted = _check(fail, "distribution.min_submitted", distribution.get("min_submitted", 1), _positive_int)

    return ReviewConfig(
        path=path,
        kind=kind,
        num_responses=n,
        guidelines=guidelines,
        fields=tuple(fields),
        questions=tuple(questions),
        metadata=tuple(metadata),
        vectors=tuple(vectors),
        min_submitted=min_submitted,
    )


def _check(fail, key: str, value: Any, check: Callable[[Any], Any]) -> Any:
    try:
        return check(value)
    except ValueError as exc:
        raise fail(key, str(exc)) from None


def _items(fail, data: dict, section: str, types: dict | None, common: dict) -> list[dict]:
    """Validate one list section; `types` maps each `type` to the extra keys it takes."""
    raw = data.get(section) or []
    if not isinstance(raw, list):
        raise fail(section, "expected a list")
    items = []
    for index, item in enumerate(raw):
        at = f"{section}[{index}]"
        if not isinstance(item, dict):
            raise fail(at, f"expected a mapping, got {item!r}")
        allowed = dict(common)
        if types is not None:
            if "type" not in item:
                raise fail(f"{at}.type", f"missing (one of {', '.join(types)})")
            if item["type"] not in types:
                raise fail(f"{at}.type", f"unknown type {item['type']!r} (expected one of {', '.join(types)})")
            allowed.update(types[item["type"]])
        for key in ("name", *(["dimensions"] if section == "vectors" else [])):
            if key not in item:
                raise fail(f"{at}.{key}", "missing")
        checked = {}
        for key, value in item.items():
            if key not in allowed:
                raise fail(f"{at}.{key}", f"unknown key (expected one of {', '.join(allowed)})")
            checked[key] = _check(fail, f"{at}.{key}", value, allowed[key])
        items.append(checked)
    return items


def _responses(fail, declared: Any, counted: int | None) -> int:
    """How many responses each preference record shows: declared, or counted from the batch."""
    if declared == AUTO:
        if counted is None:
            raise fail("num_responses", "'auto' takes the count from a batch; give a number or push a batch")
        declared = counted
    elif counted is not None and declared != counted:
        raise fail("num_responses", f"is {declared!r} but the batch has {counted} responses per row")
    n = _check(fail, "num_responses", declared, _int)
    if not 2 <= n <= 50:
        raise fail("num_responses", f"expected 2 to 50 responses, got {n}")
    return n


def _expand_preference(fail, data: dict, fields: list, questions: list, n: int) -> tuple[list, list]:
    """Add response_i text fields and rating_i questions, and fill the ranking's values."""
    values = _check(fail, "rating_values", data.get("rating_values", [1, 2, 3, 4, 5]), _rating_values)
    for section, items in (("fields", fields), ("questions", questions)):
        for index, item in enumerate(items):
            if re.fullmatch(r"(response|rating)_\d+", item["name"]):
                raise fail(f"{section}[{index}].name", f"{item['name']!r} is generated from num_responses; remove it")
    fields = fields + [
        {"type": "text", "name": response_field(i), "title": f"Response {i}", "use_markdown": True, "required": True}
        for i in range(1, n + 1)
    ]
    ratings = [
        {"type": "rating", "name": rating_question(i), "title": f"Rate response {i}", "values": values, "required": True}
        for i in range(1, n + 1)
    ]
    expected = {response_field(i): f"Response {i}" for i in range(1, n + 1)}
    filled = []
    for index, question in enumerate(questions):
        if question["name"] == RANKING and question["type"] == "ranking":
            given = question.get("values")
            if given is not None and sorted(given) != sorted(expected):
                raise fail(f"questions[{index}].values", f"must be {sorted(expected)} for {n} responses; omit it")
            question = {**question, "values": given or expected}
        filled.append(question)
    return fields, ratings + filled
