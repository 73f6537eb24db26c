"""The logs as an instrument for studying models, judges and fusion limits (``fusionbench analyze``).

Each analysis is a function of :class:`~fusionbench.fusion.data.RoutingData` returning pyarrow Tables (or a
small frozen record of them): :func:`leaderboard` (accuracy and rank CIs), :func:`judge_agreement` (kappa, AUROC,
Kendall's tau of judge vs truth), :func:`error_consistency` and :func:`capa` (model similarity),
:func:`oracle_at_k` (the router-pool curve), :func:`skill_pca` and :func:`leave_one_task_out` (skill structure),
:func:`item_statistics`, :func:`fusion_bounds` (best single, per task, oracle, majority vote, judge best-of-n).
:func:`analyze` runs them all into one report dict; :func:`write_analysis` writes report.md, report.json, PNGs;
:func:`read_analysis` reads report.json back, its manifest checked.
"""

from fusionbench.fusion.analysis.answers import Answers, extract_answers
from fusionbench.fusion.analysis.bounds import fusion_bounds, judge_best_of_n, majority_vote
from fusionbench.fusion.analysis.common import cohen_kappa
from fusionbench.fusion.analysis.irt_items import irt_item_parameters
from fusionbench.fusion.analysis.judge import JudgeAgreement, judge_agreement
from fusionbench.fusion.analysis.leaderboard import Leaderboard, leaderboard
from fusionbench.fusion.analysis.run import AnalysisConfig, analyze
from fusionbench.fusion.analysis.similarity import Similarity, capa, capa_kappa, error_consistency, oracle_at_k
from fusionbench.fusion.analysis.skills import item_statistics, leave_one_task_out, skill_pca
from fusionbench.fusion.analysis.write import read_analysis, write_analysis

__all__ = [
    "AnalysisConfig",
    "Answers",
    "JudgeAgreement",
    "Leaderboard",
    "Similarity",
    "analyze",
    "capa",
    "capa_kappa",
    "cohen_kappa",
    "error_consistency",
    "extract_answers",
    "fusion_bounds",
    "irt_item_parameters",
    "item_statistics",
    "judge_agreement",
    "judge_best_of_n",
    "leaderboard",
    "leave_one_task_out",
    "majority_vote",
    "oracle_at_k",
    "read_analysis",
    "skill_pca",
    "write_analysis",
]
