"""The ``fusionbench_judge`` evaluate module (``evaluate.load(fusionbench.metrics.path("judge"))``)."""
