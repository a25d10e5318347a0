"""What a batch cost: tokens per step and model, the steps' wall time, dollars from the lead's price table.

Tokens come from the backend's own usage, which distilabel 1.5.3 keeps per row in
`distilabel_metadata["statistics_<step>"]` (`input_tokens`, `output_tokens`: one entry per
call). They are counted in the main process as each step's output batch arrives
(`pipelines.local_pipeline.Pipeline`), so rows that clean-up drops later still count: they were
paid for. A call whose backend reported no usage (distilabel then writes 0, or -1) is counted
with the model's own tokenizer from the call's text (`curation.token_count`: `tokenizer_rows`);
where no tokenizer loads it is an `uncounted_rows`, never guessed, and a budget cannot be kept
over it: the run stops as if spent and says why.
The ledger lives beside distilabel's cache of the run, so a run resumed from the cache adds to
what the interrupted one spent instead of forgetting it.

Prices are the lead's, never shipped: a YAML or JSON file (`CURATION_PRICES`, default
$CURATION_HOME/prices.yaml) mapping a model, as the manifest names it, to USD per 1M
`input` and per 1M `output` tokens.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from curation.errors import BadInput

LEDGER_FILE = "curation-cost.json"  # beside distilabel's batch manager in the run's cache
_FIELDS = ("input_tokens", "output_tokens", "calls", "rows", "tokenizer_rows", "uncounted_rows", "wall_seconds")


def load_prices(path: Path | None = None) -> dict[str, dict[str, float]]:
    """{model: {"input": USD per 1M, "output": USD per 1M}} from the price table; {} when there is none."""
    from curation import settings

    path = Path(path) if path is not None else settings.prices_file()
    if not path.is_file():
        return {}
    try:
        import yaml

        table = yaml.safe_load(path.read_text(encoding="utf-8")) or {}  # JSON is YAML too
    except Exception as exc:
        raise BadInput(f"price table {path} cannot be read: {' '.join(str(exc).split())}") from None
    prices = {}
    for model, price in table.items() if isinstance(table, dict) else [(None, None)]:
        if not (isinstance(price, dict) and all(isinstance(price.get(k), (int, float)) and price[k] >= 0
                                                for k in ("input", "output"))):
            raise BadInput(f"price table {path}: each model needs `input` and `output` USD per 1M tokens "
                           f"(numbers, at least 0); {model!r} has {price!r}")
        prices[str(model)] = {"input": float(price["input"]), "output": float(price["output"])}
    return prices


def check_priced(models: list[str], prices: dict) -> None:
    """--budget-usd needs a price for every model the run calls: refuse before any model loads."""
    from curation import settings

    if missing := [m for m in dict.fromkeys(models) if m not in prices]:
        raise BadInput(f"--budget-usd needs a price for {', '.join(map(repr, missing))}, and the price table "
                       f"{settings.prices_file()} has none",
                       hint="add `MODEL: {input: USD_PER_1M, output: USD_PER_1M}` to it, or use --budget TOKENS")


def usd(usage: dict, price: dict | None) -> float | None:
    """Dollars for `usage` at `price` (per 1M tokens); None without a price or with uncounted rows."""
    if price is None or usage.get("uncounted_rows"):
        return None
    return round((usage["input_tokens"] * price["input"] + usage["output_tokens"] * price["output"]) / 1e6, 6)


def batch_usage(step: str, rows: list[dict], counter=lambda: None) -> dict:
    """Tokens, calls and rows of one output batch of `step`, from its rows' distilabel statistics;
    calls the backend reported no usage for are counted by `counter()` (a `TokenCounter`, or None),
    asked for only when such a call is met."""
    usage = dict.fromkeys(_FIELDS, 0)
    key = f"statistics_{step}"
    for row in rows:
        metas = [m for m in _metas(row) if isinstance(m, dict) and isinstance(m.get(key), dict)]
        if not metas:
            # AskUntilEnough sends rows it no longer needs on without a call: nothing spent.
            usage["uncounted_rows"] += _has_output(row, step)
            continue
        if all(_reported(m[key]) for m in metas):
            how = "rows"
        elif counter() is not None and all(m.get(f"raw_input_{step}") and m.get(f"raw_output_{step}") is not None
                                         for m in metas):  # the call's text, to count
            how = "tokenizer_rows"
        else:
            usage["uncounted_rows"] += 1
            continue
        usage[how] += 1
        for m in metas:
            s = m[key]
            inputs, outputs = _ints(s.get("input_tokens")), _ints(s.get("output_tokens"))
            calls = max(len(inputs), len(outputs), 1)
            usage["calls"] += calls
            if how == "rows":
                usage["input_tokens"] += sum(inputs)
                usage["output_tokens"] += sum(outputs)
            else:
                usage["input_tokens"] += calls * counter().prompt_tokens(m[f"raw_input_{step}"])
                usage["output_tokens"] += counter().output_tokens(str(m[f"raw_output_{step}"]))
    return usage


def _reported(stats: dict) -> bool:
    """Whether the backend reported the call's usage: distilabel writes 0 (OpenAI clients) or -1
    (an Inference Endpoint without a tokenizer) where it did not; no call reads a prompt of 0 tokens."""
    inputs = _ints(stats.get("input_tokens"))
    return bool(inputs) and all(n > 0 for n in inputs) and all(n >= 0 for n in _ints(stats.get("output_tokens")))


def _has_output(row: dict, step: str) -> bool:
    return any(isinstance(m, dict) and m.get(f"raw_output_{step}") is not None for m in _metas(row))


def _ints(value) -> list[int]:
    return [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, int)]


class Ledger:
    """Tokens and wall time per LLM step of one pipeline run, kept beside its distilabel cache.

    `step_models` maps each LLM step to the model the manifest names; steps without an LLM are
    not tracked. A budget (`tokens` and/or `usd`) is spent once either is reached.
    """

    def __init__(self, step_models: dict[str, str], *, prices: dict | None = None,
                 budget_tokens: int | None = None, budget_usd: float | None = None, counters=None):
        self.step_models, self.prices = dict(step_models), prices or {}
        # {model label: a callable giving its TokenCounter or None}: loaded once, at the first call without usage
        self._counter_loaders, self._counters = dict(counters or {}), {}
        self.budget_tokens, self.budget_usd = budget_tokens, budget_usd
        self.steps = {step: dict.fromkeys(_FIELDS, 0) for step in self.step_models}
        self.counted: set[str] = set()
        self.path: Path | None = None
        self._busy_since: dict[str, float] = {}
        self.held = False  # a batch was kept back from an LLM step because the budget was spent

    def attach(self, path: Path, *, fresh: bool = False) -> None:
        """Keep the ledger at `path` (beside the run's cache), adding to what it holds unless `fresh`."""
        self.path = path
        if path.is_file() and not fresh:
            saved = json.loads(path.read_text(encoding="utf-8"))
            for step, usage in saved.get("steps", {}).items():
                if step in self.steps:
                    self.steps[step].update({k: usage.get(k, 0) for k in _FIELDS})
            self.counted = set(saved.get("counted", []))

    def tracks(self, step: str) -> bool:
        return step in self.steps

    def started(self, step: str) -> None:
        """A batch went to `step`: its wall time runs from now while it has work."""
        self._busy_since.setdefault(step, time.monotonic())

    def finished(self, step: str, seq_no: int, rows: list[dict], *, idle: bool) -> None:
        """`step` sent back batch `seq_no`; `idle`: it has no other batch in hand."""
        key = f"{step}:{seq_no}"
        if key not in self.counted:  # distilabel may hand a batch over twice while stopping
            self.counted.add(key)
            for name, value in batch_usage(step, rows, lambda: self._counter(step)).items():
                if name != "wall_seconds":
                    self.steps[step][name] += value
        if idle and step in self._busy_since:
            self.steps[step]["wall_seconds"] += time.monotonic() - self._busy_since.pop(step)
        self.save()

    def _counter(self, step: str):
        """The tokenizer of `step`'s model (None if it has none), loaded once, when first asked for:
        by `batch_usage`, once a call comes back without usage."""
        model = self.step_models[step]
        if model not in self._counters:
            loader = self._counter_loaders.get(model)
            self._counters[model] = loader() if loader is not None else None
        return self._counters[model]

    def uncounted(self) -> bool:
        """Whether a call went uncounted (no usage reported, no tokenizer): a budget cannot be kept."""
        return any(u["uncounted_rows"] for u in self.steps.values())

    def spent_tokens(self) -> int:
        return sum(u["input_tokens"] + u["output_tokens"] for u in self.steps.values())

    def spent_usd(self) -> float | None:
        costs = [usd(u, self.prices.get(self.step_models[s])) for s, u in self.steps.items()]
        return None if any(c is None for c in costs) else round(sum(costs), 6)

    def budgeted(self) -> bool:
        return self.budget_tokens is not None or self.budget_usd is not None

    def spent(self) -> bool:
        """Whether the budget is reached (or can no longer be kept: calls went uncounted): no new LLM batch starts."""
        if self.budgeted() and self.uncounted():
            return True
        if self.budget_tokens is not None and self.spent_tokens() >= self.budget_tokens:
            return True
        return self.budget_usd is not None and (self.spent_usd() or 0.0) >= self.budget_usd

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"steps": self.steps, "counted": sorted(self.counted)}), encoding="utf-8")
        tmp.replace(self.path)

    def entry(self) -> dict:
        """The manifest's `cost`: per step, per model and in total; usd null where a model has no price."""
        steps = {s: {"model": self.step_models[s], **_rounded(u), "usd": usd(u, self.prices.get(self.step_models[s])),
                     "counted": _counted(u)} for s, u in sorted(self.steps.items())}
        models: dict[str, dict] = {}
        for step in steps.values():
            m = models.setdefault(step["model"], dict.fromkeys(_FIELDS, 0))
            for name in _FIELDS:
                m[name] += step[name]
        models = {m: {**_rounded(u), "usd": usd(u, self.prices.get(m)), "counted": _counted(u)}
                  for m, u in models.items()}
        total = dict.fromkeys(_FIELDS, 0)
        for u in models.values():
            for name in _FIELDS:
                total[name] += u[name]
        costs = [u["usd"] for u in models.values()]
        counters = {m: c.source for m, c in sorted(self._counters.items()) if c is not None}
        entry = {
            "source": "backend usage (distilabel statistics), counted as each step's batches arrived"
                      + ("; calls without usage counted with " + ", ".join(f"{m}: the {s}" for m, s in counters.items())
                         if counters else ""),
            "steps": steps, "models": models,
            "total": {**_rounded(total), "usd": None if any(c is None for c in costs) else round(sum(costs), 6),
                      "counted": _counted(total)},
        }
        if self.budgeted():
            entry["budget"] = {"tokens": self.budget_tokens, "usd": self.budget_usd}
        return entry


def _rounded(usage: dict) -> dict:
    return {k: round(v, 3) if k == "wall_seconds" else v for k, v in usage.items()}


def _counted(usage: dict) -> str:
    """How the tokens were counted: the backend's usage, the model's tokenizer, both, partly, or not at all."""
    if usage["uncounted_rows"]:
        return "partial" if usage["rows"] or usage["tokenizer_rows"] else "unavailable"
    if usage["tokenizer_rows"]:
        return "backend usage and tokenizer" if usage["rows"] else "tokenizer"
    return "backend usage"


def _metas(row: dict) -> list:
    meta = row.get("distilabel_metadata")
    return meta if isinstance(meta, list) else [meta]


def step_models(pipeline, labels: dict[str, str]) -> dict[str, str]:
    """{LLM step name: model label} of a built pipeline; `labels` maps an LLM's `model_name` to the label."""
    from distilabel.constants import STEP_ATTR_NAME

    out = {}
    for name in pipeline.dag:
        llm = getattr(pipeline.dag.get_step(name)[STEP_ATTR_NAME], "llm", None)
        if llm is not None:
            # Fields set at build time (`model_name` needs the model loaded, in the step's process).
            model_name = next((str(v) for a in ("model_path", "model", "model_id", "base_url")
                               if (v := getattr(llm, a, None))), "unknown")
            out[name] = labels.get(model_name, model_name)
    return out


def model_labels(specs) -> dict[str, str]:
    """{the distilabel LLM's `model_name`: the manifest's model label} for the run's backends."""
    from curation.backends import model_path

    out = {}
    for spec in specs:
        out[str(model_path(spec)) if spec.name == "llamacpp" else str(spec.model)] = spec.model_label
        if spec.base_url:  # hf: with --base-url (an Inference Endpoint) names no model id
            out.setdefault(str(spec.base_url), spec.model_label)
    return out


def ledger_path(pipeline) -> Path:
    """Where a run's ledger lives: beside distilabel's batch manager, so it goes with the cache."""
    from curation.upstream.distilabel import cache_location

    return Path(cache_location(pipeline)["batch_manager"]).parent / LEDGER_FILE


def card_lines(batch_ids: dict) -> list[str]:
    """The export card's "Cost" section: one line per generated batch behind the exported rows
    (the batches themselves or their ancestors, from the manifests on this machine); [] if none."""
    from curation.export.card import md_text

    found = costs_behind(batch_ids)
    if not found:
        return []
    lines = []
    for batch_id, (manifest, cost) in sorted(found.items()):
        total = cost.get("total") or {}
        models = ", ".join(md_text(m) for m in cost.get("models") or {}) or "—"
        spent = total.get("usd")
        stopped = " (stopped on budget)" if manifest.get("stopped") == "budget" else ""
        lines.append(f"| {md_text(batch_id)} | {md_text(manifest.get('recipe'))} | {models} "
                     f"| {total.get('input_tokens', 0):,} | {total.get('output_tokens', 0):,} "
                     f"| {'—' if spent is None else f'{spent:.6f}'} "
                     f"| {md_text((manifest.get('rows') or {}).get('kept'))}{stopped} |")
    exported = sum(batch_ids.values())
    tokens = sum(int((c.get("total") or {}).get("input_tokens") or 0) + int((c.get("total") or {}).get("output_tokens") or 0)
                 for _, c in found.values())
    prices = [(c.get("total") or {}).get("usd") for _, c in found.values()]
    per_row = f"{tokens / exported:,.1f} tokens" if exported else "n/a"
    if exported and None not in prices:
        per_row += f", USD {sum(prices) / exported:.6f}"
    return ["## Cost", "",
            "Tokens each generation spent, as its backend reported them (rows later dropped by clean-up "
            "included); USD from the price table the lead set (— where a model had no price).", "",
            "| batch | recipe | model(s) | input tokens | output tokens | USD | rows kept |",
            "|---|---|---|---|---|---|---|", *lines, "",
            f"In all {tokens:,} tokens for {exported:,} exported rows: {per_row} per exported row "
            "(`curate report` gives the review time beside it).", ""]


def costs_behind(batch_ids) -> dict[str, tuple[dict, dict]]:
    """{batch id: (manifest, its `cost`)} of every batch behind `batch_ids` on this machine that recorded
    a cost: the batches themselves or their ancestors (a dedup or selection child spends no tokens;
    the batch it was made from did), each once. A batch is found as `curate report` finds it
    (`BatchFinder`: its folder, or one written with --out under the batches folder)."""
    from curation.batch import BatchFinder, find_batch, lineage
    from curation.errors import BatchNotFound

    found: dict[str, tuple[dict, dict]] = {}
    finder = BatchFinder()
    for batch_id in sorted(b for b in batch_ids if b):
        try:
            batch = finder.find(batch_id)
        except BatchNotFound:  # a folder of that name that is not a readable batch
            batch = None
        for step in lineage(batch) if batch is not None else []:
            if not step["found"] or step.get("batch_id") in found:
                continue
            source = find_batch(str(step["batch_id"]), hint_path=step.get("path"))
            if source is not None and isinstance(source.manifest.get("cost"), dict):
                found[str(step["batch_id"])] = (source.manifest, source.manifest["cost"])
    return found


def stopped_line(batch) -> str:
    """The one line `curate generate` prints for a batch the budget stopped."""
    budget, rows = batch.manifest["cost"]["budget"], batch.manifest["rows"]
    limit = f"{budget['tokens']:,} tokens" if budget.get("tokens") is not None else f"${budget['usd']}"
    if budget.get("uncounted"):
        return (f"Batch {batch.id}: stopped: the backend reported no token usage and no tokenizer of its model "
                f"loaded, so the budget ({limit}) cannot be kept: {rows['kept']} of {rows['requested']} rows "
                f"→ {batch.path}")
    return (f"Batch {batch.id}: stopped on the budget ({limit}) at {budget['stopped_at_tokens']:,} tokens: "
            f"{rows['kept']} of {rows['requested']} rows → {batch.path}; a re-run with a larger budget resumes")
