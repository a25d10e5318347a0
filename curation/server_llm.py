"""distilabel's OpenAILLM, made to work with any OpenAI-compatible server (OpenAI, vLLM, llama.cpp).

Two gaps of distilabel 1.5.3's `OpenAILLM` close here:

- **JSON-schema answers.** Its `agenerate` types `response_format` as `Dict[str, str]` under
  `validate_call`, so a nested schema is refused, and its `structured_output` goes through
  `instructor`. Here an input given as `(messages, {"schema": ...})` (what the judge tasks of
  `pipelines.steps` send) has its schema sent in the request body instead, in OpenAI's structured-output
  form (`{"type": "json_schema", ...}`, which OpenAI and vLLM take); a server that refuses that
  form (llama.cpp's, with HTTP 500) gets llama.cpp's `{"type": "json_object", "schema": ...}`.
  One 1-token probe per LLM decides, before the first request with a schema.
- **`n` ignored.** llama.cpp's server answers one choice whatever `n` asks; the missing
  choices are asked for again, one request each, so `num_generations` holds on every server.
"""

from typing import Any, Dict, List, Optional, Union

from distilabel.models.llms import OpenAILLM
from pydantic import PrivateAttr

# Tried in order; the first a server accepts is kept.
_SCHEMA_FORMS = ("json_schema", "json_object")


def response_format(schema: dict, form: str) -> dict:
    """The `response_format` asking for `schema` in one of `_SCHEMA_FORMS`."""
    if form == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    return {"type": "json_object", "schema": schema}


class OpenAIServerLLM(OpenAILLM):
    """OpenAILLM that holds answers to a per-request JSON schema and returns `num_generations` choices on any server."""

    _schema_form: Optional[str] = PrivateAttr(default=None)
    _probe_lock: Any = PrivateAttr(default=None)

    async def agenerate(  # type: ignore[override]
        self,
        input: Any,
        num_generations: int = 1,
        max_new_tokens: int = 128,
        logprobs: bool = False,
        top_logprobs: Optional[int] = None,
        echo: bool = False,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        temperature: float = 1.0,
        top_p: float = 1.0,
        stop: Optional[Union[str, List[str]]] = None,
        response_format: Optional[Dict[str, str]] = None,
        extra_body: Optional[Dict[str, Any]] = None,
    ):
        kwargs = dict(max_new_tokens=max_new_tokens, logprobs=logprobs, top_logprobs=top_logprobs, echo=echo,
                      frequency_penalty=frequency_penalty, presence_penalty=presence_penalty,
                      temperature=temperature, top_p=top_p, stop=stop, response_format=response_format)
        schema = None
        if isinstance(input, tuple):
            input, structured = input
            schema = (structured or {}).get("schema")
        output = await self._generate_held_to(schema, input, num_generations, extra_body, kwargs)
        missing = num_generations - len(output["generations"])
        if missing > 0:
            import asyncio

            more = await asyncio.gather(*(self._generate_held_to(schema, input, 1, extra_body, kwargs)
                                          for _ in range(missing)))
            output = _merge([output, *more])
        return output

    async def _generate_held_to(self, schema: dict | None, input, num_generations: int, extra_body, kwargs):
        if schema is None or isinstance(input, str):
            return await super().agenerate(input=input, num_generations=num_generations, extra_body=extra_body, **kwargs)
        form = await self._schema_form_of_server(schema)
        body = {**(extra_body or {}), "response_format": response_format(schema, form)}
        return await super().agenerate(input=input, num_generations=num_generations, extra_body=body, **kwargs)

    async def _schema_form_of_server(self, schema: dict) -> str:
        """The first of `_SCHEMA_FORMS` the server takes, asked once with a 1-token request and no retries.

        llama.cpp's server answers a form it does not know with HTTP 500, which the client would
        retry six times for every request; one probe settles it for the run.
        """
        import asyncio

        import openai

        if self._schema_form is not None:
            return self._schema_form
        if self._probe_lock is None:
            self._probe_lock = asyncio.Lock()
        async with self._probe_lock:
            if self._schema_form is not None:
                return self._schema_form
            client = self._aclient.with_options(max_retries=0)
            for form in _SCHEMA_FORMS:
                try:
                    await client.chat.completions.create(
                        model=self.model, messages=[{"role": "user", "content": "Answer in JSON."}], max_tokens=1,
                        response_format=response_format(schema, form))  # type: ignore[arg-type]
                except openai.APIStatusError as exc:
                    if "response_format" in str(exc):
                        continue  # this form is refused: try the next
                    return form  # another failure: the real request will meet it, with its retries
                except openai.APIError:
                    return form
                self._schema_form = form
                return form
            self._schema_form = _SCHEMA_FORMS[-1]
            return self._schema_form


def _merge(outputs: list[dict]) -> dict:
    merged: dict = {"generations": [], "statistics": {}}
    for out in outputs:
        merged["generations"].extend(out["generations"])
        for key, values in (out.get("statistics") or {}).items():
            merged["statistics"].setdefault(key, []).extend(values if isinstance(values, list) else [values])
        if out.get("logprobs"):
            merged.setdefault("logprobs", []).extend(out["logprobs"])
    return merged
