"""The review loop: push batches to Argilla for human review and track its progress."""
