"""Inputs other than a local file, made into one before the run: ``-`` (a pipe on stdin), and the network
inputs of issue 26. Each is read by the command's own process only, never by ``vqa2 serve`` for a request
(serve/security.py); records name the input as given."""
