"""`vqa2 serve`: a warm model behind HTTP (FastAPI + uvicorn), and the client used by ``--server``.

Modules: ``options`` (request options → Settings, the CLI's validation), ``security`` (bind rules, bearer
token, allowed roots opened once), ``limits`` (sizes and time bounds enforced while a request arrives),
``uploads`` (streamed multipart), ``access`` (what is shown without the token), ``queue`` (bounded work queue: decode threads ahead of one model thread),
``metrics`` (Prometheus), ``app`` (the FastAPI app and routes), ``client`` (HTTP client for
``vqa2 score/ask/batch --server``). FastAPI, uvicorn, prometheus-client and httpx are the ``serve`` extra;
every module imports them lazily or is imported only by the serve command and the client paths.
"""
