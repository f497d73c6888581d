"""`vqa2 serve`: a warm model behind HTTP (FastAPI + uvicorn). The server keeps only HTTP: the runs it
serves are the commands' own (``jobs``, ``pipeline``); its client is :mod:`vqa2cli.remote`.

Modules: ``options`` (request options → Settings, the CLI's validation), ``security`` (bind rules, bearer
token, allowed roots opened once), ``limits`` (sizes and time bounds enforced while a request arrives),
``uploads`` (streamed multipart), ``access`` (what is shown without the token), ``queue`` (bounded work queue: decode threads ahead of one model thread),
``metrics`` (Prometheus), ``app`` (the FastAPI app and routes); the ``--server`` client is
:mod:`vqa2cli.remote`. FastAPI, uvicorn, prometheus-client and httpx are the ``serve`` extra;
every module imports them lazily or is imported only by the serve command.
"""
