"""Load tests and benchmarks of firstpitch; ``loadtests.harness`` is what they share."""
