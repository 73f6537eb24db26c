"""The ``fusionbench_cost`` evaluate module (``evaluate.load(fusionbench.metrics.path("cost"))``)."""
