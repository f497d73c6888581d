"""vqa2cli.remote: the ``--server`` client of ``score``/``ask``/``batch``, beside the in-process sources.

client.py is the HTTP side (settings check, uploads or paths, 503 waits and transport retries, every
refusal mapped to the in-process error kind); scorers.py turns the server's JSON back into records and
offers the same interfaces as the local sources: ``RemoteScoring`` (``jobs/score_run.py``),
``RemoteAsking`` (``jobs/ask_run.py``), ``RemoteBatchScorer`` (the job engine's ``BatchScorer``). The
package imports no front-end (``cli``, ``serve``).
"""
