"""`curate watch`: the continuous loop on Argilla's webhooks.

`listener` receives and verifies the deliveries, `state` keeps what the watcher has done under the
data folder, `loop` turns completed source records into the next stage's records in TARGET.
"""
