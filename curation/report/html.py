"""The report as one self-contained HTML page: inline CSS and SVG, no script, nothing fetched.

Every number shown comes from the figures dict; a cell holding one carries `data-figure`
with its place in the JSON (e.g. `ai_feedback.chosen.share`), so the page can be checked
against the JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from html import escape

from curation.report import svg

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 980px; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; }
.meta { color: #666; } .note { color: #666; font-size: 0.9em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; } th { background: #f6f6f6; }
td.n { text-align: right; } td { white-space: nowrap; }
svg.plot { display: block; margin: 0.6em 0; }
.plots { display: flex; flex-wrap: wrap; gap: 1.5em; }
"""


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def dec(value: float | None, places: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{places}f}"


NUMBER = re.compile(r"^(-?[0-9.]+%?|n/a)$")


def _cell_class(text: str) -> str:
    return ' class="n"' if NUMBER.match(text) else ""  # numbers align right


def _fig(path: str, text: str, tag: str = "td") -> str:
    return f'<{tag} data-figure="{escape(path)}"{_cell_class(text)}>{escape(text)}</{tag}>'


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return f"<table><tr>{head}</tr>{''.join('<tr>' + ''.join(r) + '</tr>' for r in rows)}</table>"


def _td(text: object) -> str:
    return f"<td{_cell_class(str(text))}>{escape(str(text))}</td>"


def render_html(figures: dict) -> str:
    """The whole page."""
    title = f"Review report: {figures['dataset']}"
    sections = [_summary(figures), _progress(figures["progress"]), _annotators(figures["annotators"]),
                _agreement(figures["agreement"]), _ratings(figures["ratings"]),
                _ai_feedback(figures["ai_feedback"]), _conflicts(figures.get("conflicts")), _rounds(figures.get("rounds")),
                _cost(figures.get("cost")), _batches(figures["batches"])]
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{escape(title)}</h1>{''.join(sections)}</body></html>\n"
    )


def _summary(f: dict) -> str:
    r = f["records"]
    kind = f["kind"] or "not made by curate push"
    parts = f.get("parts") or []
    pair = f" · with its overlap part {escape(parts[1])} (adaptive overlap)" if len(parts) > 1 else ""
    return (
        f'<p class="meta">Workspace {escape(f["workspace"])} · {escape(kind)} dataset{pair} · '
        f'generated {escape(f["generated_at"])}</p>'
        + _table(["records", "with a submitted review", "only discarded", "not reviewed yet"],
                 [[_fig(f"records.{k}", str(r[k])) for k in ("total", "submitted", "discarded_only", "not_reviewed")]])
    )


def _progress(p: dict) -> str:
    def when(text: str) -> dt.datetime:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))

    points = []
    if p["curve"]:
        start = when(p["curve"][0][0])
        points = [((when(t) - start).total_seconds(), n) for t, n in p["curve"]]
    plot = svg.cumulative_line("progress", "Reviews (submitted or discarded responses) over time", points,
                               p["first"] or "", p["last"] or "")
    rows = [[_td(d["day"]), _fig(f"progress.by_day.{d['day']}.submitted", str(d["submitted"])),
             _fig(f"progress.by_day.{d['day']}.discarded", str(d["discarded"]))] for d in p["by_day"]]
    return (f"<h2>Review progress</h2><p>{_fig('progress.reviews', str(p['reviews']), 'span')} reviews "
            f"(submitted or discarded responses), cumulative:</p>{plot}"
            + _table(["day (UTC)", "submitted", "discarded"], rows))


def _annotators(people: dict) -> str:
    bars = [(user, [a["submitted"], a["discarded"]], f"{a['submitted'] + a['discarded']} ({pct(a['discard_share'])} discarded)")
            for user, a in people.items()]
    plot = svg.hbars("annotators", "Reviews per annotator", bars, [svg.BLUE, svg.RED], ["submitted", "discarded"],
                     empty="no responses yet")
    rows = [
        [_td(user), *(_fig(f"annotators.{user}.{k}", str(a[k])) for k in ("submitted", "discarded", "draft")),
         _fig(f"annotators.{user}.discard_share", pct(a["discard_share"])),
         _fig(f"annotators.{user}.per_hour", dec(a["per_hour"], 1)), _td(a["first"]), _td(a["last"] or "")]
        for user, a in people.items()
    ]
    return ("<h2>Annotators</h2>" + plot
            + _table(["annotator", "submitted", "discarded", "draft", "discarded share", "reviews per hour",
                      "first response", "last review"], rows)
            + '<p class="note">Reviews per hour: from the first response opened to the last one submitted or '
              "discarded (n/a under a minute).</p>")


def _conflicts(conflicts: dict | None) -> str:
    """Records whose annotators disagree: still open, or settled by a reviewer (`curate adjudicate`)."""
    if conflicts is None:
        return ""
    where = (f"adjudication dataset {escape(conflicts['dataset'])}" if conflicts["dataset"]
             else "no adjudication dataset yet (<code>curate adjudicate</code> makes one)")
    return ("<h2>Conflicts between annotators</h2>"
            + _table(["open", "resolved"], [[_fig("conflicts.open", str(conflicts["open"])),
                                             _fig("conflicts.resolved", str(conflicts["resolved"]))]])
            + f'<p class="note">Records whose submitted answers disagree; resolved: a reviewer answered them in the '
              f"{where}, and export takes that answer.</p>")


def _rounds(rounds: list[dict] | None) -> str:
    """Each round of the chain this dataset ends (curation/report/rounds.py), oldest first."""
    if not rounds:
        return ""
    labels = [f"{r['round']}: {r['dataset']}" for r in rounds]
    plot = svg.shares_over("rounds", "Acceptance, edits and judge agreement over rounds", labels, [
        ("acceptance", svg.BLUE, [r["acceptance"] for r in rounds]),
        ("edited", svg.RED, [r["edited_share"] for r in rounds]),
        ("judge chose as humans", svg.ORANGE, [r["judge_agreement_chosen"] for r in rounds]),
        ("judge rating equal", svg.GREY, [r["judge_agreement_ratings"] for r in rounds]),
    ])
    keys = [("reviewed", str), ("admitted", lambda v: "n/a" if v is None else str(v)), ("acceptance", pct),
            ("edited_share", pct), ("mean_edit_distance", dec), ("judge_agreement_chosen", pct),
            ("judge_agreement_ratings", pct), ("examples_held_out", str)]
    rows = [[_td(r["round"]), _td(f"{r['dataset']} ({r['workspace']})"), _td(r["kind"] or ""),
             *(_fig(f"rounds.{r['round']}.{key}", show(r[key])) for key, show in keys), _td(r["note"] or "")]
            for r in rounds]
    return ("<h2>Rounds</h2>" + plot
            + _table(["round", "dataset (workspace)", "kind", "reviewed", "admitted", "acceptance", "edited",
                      "edit distance", "judge chose as humans", "judge rating equal", "held out", "note"], rows)
            + '<p class="note">A round is one reviewed dataset; the one before it is the dataset a batch behind '
              "its records was seeded from (<code>--seeds argilla:</code>). Acceptance: records the export policy "
              "admits of those reviewed. Edited and mean edit distance (characters inserted and deleted over "
              "both texts' length): over the admitted sft responses. Judge agreement: over the records not held out (records a batch's manifest names as "
              "examples).</p>")


def _cost(cost: dict | None) -> str:
    """Human review time and the generation's tokens and dollars, in all and per admitted row."""
    if not cost:
        return ""
    human, model, row = cost["human"], cost["model"], cost["per_admitted_row"]
    usd = "unpriced" if model["usd"] is None else f"{model['usd']:.4f}"
    return ("<h2>Cost</h2>"
            + _table(["", "in all", "per admitted row"], [
                [_td("review time (hours / seconds)"), _fig("cost.human.active_hours", dec(human["active_hours"], 2)),
                 _fig("cost.per_admitted_row.human_seconds", dec(row["human_seconds"], 1))],
                [_td("reviews per active hour"), _fig("cost.human.reviews_per_active_hour",
                                                      dec(human["reviews_per_active_hour"], 1)), _td("")],
                [_td("generation tokens (input + output)"),
                 _fig("cost.model.tokens", f"{model['input_tokens'] + model['output_tokens']:,}"),
                 _fig("cost.per_admitted_row.tokens", dec(row["tokens"], 1))],
                [_td("generation USD"), _fig("cost.model.usd", usd),
                 _fig("cost.per_admitted_row.usd", "n/a" if row["usd"] is None else f"{row['usd']:.6f}")],
            ])
            + f'<p class="note">Review time: the gaps between one annotator\'s finished reviews, a gap over '
              f"10 minutes counted as a break, each session's first review as the median gap "
              f"({human['timed_annotators']} of {human['annotators']} annotator(s) timed). Tokens and USD: the "
              f"manifests of the {model['batches']} generating batch(es) behind the records on this machine "
              f"(USD from the lead's price table). Admitted rows: {cost['admitted'] if cost['admitted'] is not None else 'n/a'}, "
              "by the export's default policy.</p>")


def _agreement(agreement: dict) -> str:
    bars = [(name, [max(a["alpha"] or 0, 0)], f"{dec(a['alpha'])} over {a['records']} record(s)")
            for name, a in agreement.items()]
    plot = svg.hbars("agreement", "Krippendorff's alpha per question", bars, [svg.BLUE], max_value=1,
                     empty="no rating, label or ranking questions")
    rows = [[_td(name), _td(a["level"] + (" (top choice)" if a["of"] != "value" else "")),
             _fig(f"agreement.{name}.alpha", dec(a["alpha"])), _fig(f"agreement.{name}.records", str(a["records"])),
             _td(a["annotators"])] for name, a in agreement.items()]
    return ("<h2>Agreement between annotators</h2>" + plot
            + _table(["question", "level", "alpha", "records", "annotators"], rows)
            + '<p class="note">Krippendorff\'s alpha over the records two or more annotators submitted, as '
              "<code>curate status</code> gives it: 1 is full agreement, 0 chance level, n/a when nothing overlaps "
              "or everyone gave the same value.</p>")


def _ratings(ratings: dict) -> str:
    plots = []
    for name, r in ratings.items():
        series = [("humans", svg.BLUE, r["human"])] + ([("AI judge", svg.ORANGE, r["judge"])] if r["judge"] else [])
        plots.append(svg.columns(f"ratings-{name}", f"{name}: how often each rating was given", name,
                                 [str(v) for v in r["scale"]], series))
    rows = [[_td(f"{name} ({who})"), *(_fig(f"ratings.{name}.{key}.{v}", str(n)) for v, n in zip(r["scale"], counts))]
            for name, r in ratings.items() for who, key, counts in (("humans", "human", r["human"]), ("AI", "judge", r["judge"]))
            if counts is not None]
    scale = sorted({v for r in ratings.values() for v in r["scale"]})
    table = _table(["question", *map(str, scale)], rows) if len({tuple(r["scale"]) for r in ratings.values()}) == 1 else ""
    if not ratings:
        return ""
    return f'<h2>Rating distributions</h2><div class="plots">{"".join(plots)}</div>{table}'


def _ai_feedback(ai: dict | None) -> str:
    if ai is None:
        return "<h2>AI feedback vs humans</h2><p>Not a dataset made by <code>curate push</code>: no AI feedback to compare.</p>"
    groups = [(key, label, g) for key, by_key in ai["by"].items() for label, g in by_key.items()]
    if ai["kind"] == "preference":
        return _judge(ai, groups)
    return _edits(ai, groups)


def _judge(ai: dict, groups: list) -> str:
    chosen, ratings = ai["chosen"], ai["ratings"]
    bars = [("all records", [chosen["share"] or 0], f"{pct(chosen['share'])} of {chosen['records']}")]
    bars += [(f"{key}: {label}", [g["share"] or 0], f"{pct(g['share'])} of {g['records']}") for key, label, g in groups]
    choice = svg.hbars("judge-choice", "Share of records where the judge chose the response humans chose", bars,
                       [svg.ORANGE], max_value=1)
    confusion = svg.heatmap("judge-confusion", "Judge ratings (rows) against human ratings (columns)",
                            ratings["scale"], ratings["confusion"], "judge rating", "human rating")
    rows = [[_td(f"{key}: {label}"), _fig(f"ai_feedback.by.{key}.{label}.share", pct(g["share"])),
             _td(f"{g['agreed']} of {g['records']}"), _td(g["humans_split"]),
             _fig(f"ai_feedback.by.{key}.{label}.rating_share_exact", pct(g["rating_share_exact"])),
             _td(g["rating_pairs"])] for key, label, g in groups]
    cells = [[_td(str(ratings["scale"][i])), *(_fig(f"ai_feedback.ratings.confusion.{ratings['scale'][i]}.{h}", str(n))
                                                 for h, n in zip(ratings["scale"], row))]
             for i, row in enumerate(ratings["confusion"])]
    return (
        "<h2>AI feedback vs humans</h2>"
        f"<p>The judge's chosen response (first place of its ranking) is the humans' chosen one (first place of "
        f"the submitted rankings, by majority) in {_fig('ai_feedback.chosen.share', pct(chosen['share']), 'strong')} "
        f"of {_fig('ai_feedback.chosen.records', str(chosen['records']), 'span')} records "
        f"({_fig('ai_feedback.chosen.agreed', str(chosen['agreed']), 'span')} agreed; "
        f"{_fig('ai_feedback.chosen.humans_split', str(chosen['humans_split']), 'span')} left out where annotators "
        f"split). The judge's rating equals the human's in "
        f"{_fig('ai_feedback.ratings.share_exact', pct(ratings['share_exact']), 'strong')} of "
        f"{_fig('ai_feedback.ratings.pairs', str(ratings['pairs']), 'span')} ratings; mean |human - judge| "
        f"{_fig('ai_feedback.ratings.mean_abs_difference', dec(ratings['mean_abs_difference']), 'span')}, mean "
        f"human - judge {_fig('ai_feedback.ratings.mean_human_minus_judge', dec(ratings['mean_human_minus_judge']), 'span')}.</p>"
        + f'<div class="plots">{choice}{confusion}</div>'
        + _table(["judge rating \\ human rating", *map(str, ratings["scale"])], cells)
        + _table(["group", "judge chose as humans", "records", "humans split", "ratings equal", "rating pairs"], rows)
    )


def _edits(ai: dict, groups: list) -> str:
    bars = [("all records", [ai["share_edited"] or 0], f"{pct(ai['share_edited'])} of {ai['responses']}")]
    bars += [(f"{key}: {label}", [g["share_edited"] or 0], f"{pct(g['share_edited'])} of {g['responses']}")
             for key, label, g in groups]
    plot = svg.hbars("edits", "Share of suggested responses that annotators edited", bars, [svg.ORANGE], max_value=1)
    rows = [[_td(f"{key}: {label}"), _td(g["responses"]),
             _fig(f"ai_feedback.by.{key}.{label}.share_edited", pct(g["share_edited"])),
             _fig(f"ai_feedback.by.{key}.{label}.mean_distance", dec(g["mean_distance"])),
             _fig(f"ai_feedback.by.{key}.{label}.mean_distance_edited", dec(g["mean_distance_edited"]))]
            for key, label, g in groups]
    return (
        "<h2>AI feedback vs humans</h2>"
        f"<p>Annotators edited {_fig('ai_feedback.share_edited', pct(ai['share_edited']), 'strong')} of "
        f"{_fig('ai_feedback.responses', str(ai['responses']), 'span')} suggested responses they submitted; mean "
        f"edit distance {_fig('ai_feedback.mean_distance', dec(ai['mean_distance']), 'span')} "
        f"({_fig('ai_feedback.mean_distance_edited', dec(ai['mean_distance_edited']), 'span')} over the edited ones; "
        "0 is unchanged, 1 nothing in common).</p>"
        + plot + _table(["group", "responses", "edited", "mean distance", "mean distance, edited"], rows)
    )


def _counts(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return ", ".join(f"{k}: {json.dumps(v) if isinstance(v, (dict, list)) else v}" for k, v in value.items())
    return str(value)


def _batches(batches: list[dict]) -> str:
    rows = [
        [_td(b["batch_id"] or "(none)"), _fig(f"batches.{b['batch_id']}.records", str(b["records"])), _td(b["recipe"] or ""),
         _td(b["kind"] or ""), _fig(f"batches.{b['batch_id']}.kept", "" if b["kept"] is None else str(b["kept"])),
         _fig(f"batches.{b['batch_id']}.dropped", "" if b["dropped"] is None else str(b["dropped"])),
         _fig(f"batches.{b['batch_id']}.dedup", _counts(b["dedup"])),
         _fig(f"batches.{b['batch_id']}.selection", _counts(b["selection"])),
         _fig(f"batches.{b['batch_id']}.note", b["note"])]
        for b in batches
    ]
    return ("<h2>Batches behind the dataset</h2>"
            + _table(["batch", "records", "recipe", "kind", "kept rows", "dropped rows", "dedup", "selection", "where"], rows))
