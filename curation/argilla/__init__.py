"""The one boundary between curation and Argilla.

Every command reaches Argilla through this package: `client` (connecting, to the embedded
server or ARGILLA_API_URL), `errors` (one table from SDK/HTTP failures to our errors),
`datasets` and `workspaces` (lookup), `records` (one paged iterator, bulk writes),
`responses` (annotators' answers as plain values) and `users`. Nothing outside this package
and `curation/server/` touches the SDK's internals (`client.api`, `._model`).
"""
