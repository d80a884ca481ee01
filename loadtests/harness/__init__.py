"""What the load tests and benchmarks share, one concern a module:

- ``processes``: children in their own sessions, stopped by pid/pgid; signals; log redirection
- ``stack``: the project's settings, servers, season data, load keys and ``bentoml serve``
- ``wrk_script`` / ``wrk``: the wrk Lua script, running wrk and parsing its output
- ``closed_loop``: concurrent httpx clients in this process, every outcome recorded;
  ``round_robin``: one address for several replicas
- ``locust_run``: locust headless as a process of its own; ``thresholds``: its gates
- ``cpu``: a process tree's CPU seconds; ``stats``: percentile summaries
- ``rounds``: two peers measured in alternating slices, and their ratio
- ``prediction_log``: what a load left in the prediction log; ``fault_lines``: FAULT lines
- ``reports``: machine, load average, git state; JSON reports

locust must run as its own process: importing it after ``ssl`` or bentoml fails (gevent's
patching). Nothing here imports locust, and loadtests/locustfile.py imports nothing here.
"""
