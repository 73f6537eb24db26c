"""The ``fusionbench_accuracy`` evaluate module (``evaluate.load(fusionbench.metrics.path("accuracy"))``)."""
