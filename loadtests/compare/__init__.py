"""firstpitch against Seldon MLServer and ``mlflow models serve`` (``make compare``)."""
