"""The ``fusionbench_routing`` evaluate module (``evaluate.load(fusionbench.metrics.path("routing"))``)."""
