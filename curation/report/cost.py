"""The report's cost section: human review time beside the tokens (and dollars) the batches behind
the dataset spent, and both per admitted row, so a lead can tell whether a round cost less than the last.

Human time is the annotators' `active_seconds` (figures.Annotators: gaps between one annotator's
reviews up to a break); model cost is each generating batch's manifest `cost` (curation/cost.py),
found through the records' batch ids and their lineage on this machine, as the export card finds it.
"""

from __future__ import annotations

from curation.report.feedback import share


def cost_figures(annotators: dict[str, dict], batch_ids: list[str], admitted: int | None) -> dict:
    """{human, model, per_admitted_row}: review time, generation tokens/USD, and each per admitted row."""
    from curation.cost import costs_behind

    timed = {user: a["active_seconds"] for user, a in annotators.items() if a["active_seconds"] is not None}
    reviews = sum(a["submitted"] + a["discarded"] for a in annotators.values())
    timed_reviews = sum(annotators[u]["submitted"] + annotators[u]["discarded"] for u in timed)
    seconds = sum(timed.values())
    human = {"active_hours": round(seconds / 3600, 3), "reviews": reviews, "timed_reviews": timed_reviews,
             "reviews_per_active_hour": share(timed_reviews, seconds / 3600) if seconds else None,
             "annotators": len(annotators), "timed_annotators": len(timed)}
    found = costs_behind(batch_ids)
    totals = [cost.get("total") or {} for _, cost in found.values()]
    prices = [t.get("usd") for t in totals]
    model = {
        "batches": len(found),
        "input_tokens": sum(int(t.get("input_tokens") or 0) for t in totals),
        "output_tokens": sum(int(t.get("output_tokens") or 0) for t in totals),
        "usd": round(sum(prices), 6) if prices and None not in prices else None,
        "counted": sorted({str(t.get("counted")) for t in totals if t.get("counted")}),
    }
    tokens = model["input_tokens"] + model["output_tokens"]
    per_row = {
        "human_seconds": share(seconds, admitted) if seconds and admitted else None,
        "tokens": share(tokens, admitted) if found and admitted else None,
        "usd": round(model["usd"] / admitted, 6) if model["usd"] is not None and admitted else None,
    }
    return {"human": human, "model": model, "admitted": admitted, "per_admitted_row": per_row}


def cost_line(cost: dict) -> str:
    """The cost section as one line of terminal output."""
    human, model, row = cost["human"], cost["model"], cost["per_admitted_row"]
    text = f"Cost: {human['active_hours']:.2f} h of review ({human['reviews']} reviews)"
    if model["batches"]:
        text += f"; {model['input_tokens'] + model['output_tokens']:,} tokens in {model['batches']} batch(es)"
        text += f", ${model['usd']:.4f}" if model["usd"] is not None else ", unpriced"
    if cost["admitted"]:
        parts = [f"{row['human_seconds']:.1f} s of review" if row["human_seconds"] is not None else None,
                 f"{row['tokens']:,.0f} tokens" if row["tokens"] is not None else None,
                 f"${row['usd']:.6f}" if row["usd"] is not None else None]
        text += f"; per admitted row ({cost['admitted']}): " + ", ".join(p for p in parts if p) if any(parts) else ""
    return text

