"""lm-evaluation-harness: running the ``fusionbench_*`` tasks (:mod:`~fusionbench.harness.run`) and turning a
``--log_samples`` run into export rows (:mod:`~fusionbench.harness.logs`). The task YAMLs live in
:mod:`fusionbench.harness_tasks` (``fusionbench tasks-path`` prints the folder)."""

from fusionbench.harness.run import lm_eval_argv, main, merge_include_path, run_lm_eval, split_include_paths, tasks_path

__all__ = ["lm_eval_argv", "main", "merge_include_path", "run_lm_eval", "split_include_paths", "tasks_path"]
