"""BentoML model services: load the champion models, predict and explain; no other I/O. And
the process fixes both BentoML services apply (``bentoml_fixes.py``, ``heap.py``,
``route_labels.py``)."""
