"""The four settings of FusionFactory's Table 4 under two protocols: what a chosen candidate is worth.

A *setting* is the objective a router is judged by (FusionFactory ``query_level/data_processing.py``):

==================  =====================================  ===========================================
setting             reward                                 columns of Table 4
==================  =====================================  ===========================================
performance_first   1.0 · perf_norm - 0.0 · cost_norm      Perf / Cost / Reward
balance             0.5 · perf_norm - 0.5 · cost_norm      Perf / Cost / Reward
cost_first          0.2 · perf_norm - 0.8 · cost_norm      Perf / Cost / Reward
llm_judge           the judge score                        LLMScore / Perf (and Cost)
==================  =====================================  ===========================================

A *protocol* says how the values are normalised and how ties break:

* ``fusionfactory``: the release's. Performance and cost are min-max normalised per task over all cells of
  the **evaluated (test) split**, with that split's own statistics; Perf and Cost are the normalised values
  (unit-less) and the oracle takes the first maximum in candidate order (``idxmax``).
* ``fusionbench``: the normalisation is fitted on the **training** split (per task; a task unseen in training
  uses the statistics over all training cells) and applied unchanged to test; Perf is the raw performance,
  Cost the mean USD per query, and ties go to the cheapest candidate.

Without cost data (a NaN anywhere in the cost matrix) the cost-weighted settings are unavailable and every
cost column says "no cost data", never 0; without judge scores ``llm_judge`` is unavailable.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import numpy as np

from fusionbench.fusion.data import RoutingData
from fusionbench.fusion.routers.tradeoffs import Tradeoff
from fusionbench.metrics.routing import best_choices

Protocol = Literal["fusionbench", "fusionfactory"]
SETTINGS: tuple[str, ...] = ("performance_first", "balance", "cost_first", "llm_judge")
PROTOCOLS: tuple[str, ...] = ("fusionbench", "fusionfactory")
NO_COST = "no cost data (column 'cost_usd')"
NO_JUDGE = "no judge data (column 'judge_score')"


class SettingUnavailable(ValueError):
    """A setting that cannot be evaluated on this data (no cost data, no judge data)."""


def check_protocol(protocol: str) -> Protocol:
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; protocols are {list(PROTOCOLS)}")
    return protocol  # type: ignore[return-value]


def check_setting(setting: str) -> str:
    if setting not in SETTINGS:
        raise ValueError(f"unknown setting {setting!r}; settings are {list(SETTINGS)}")
    return setting


def has_cost(data: RoutingData) -> bool:
    """True when every cell has a cost (a partly missing cost matrix counts as no cost data)."""
    return bool(data.n_queries) and not np.isnan(data.cost).any()


def has_judge(data: RoutingData) -> bool:
    return bool(data.n_queries) and not np.isnan(data.judge).any()


def unavailable_reason(setting: str, *datasets: RoutingData) -> str | None:
    """Why ``setting`` cannot be evaluated on these datasets (None when it can)."""
    check_setting(setting)
    if setting in ("balance", "cost_first") and not all(has_cost(d) for d in datasets):
        return NO_COST
    if setting == "llm_judge" and not all(has_judge(d) for d in datasets):
        return NO_JUDGE
    return None


def routing_tradeoff(setting: str, protocol: str) -> Tradeoff:
    """The trade-off a router routes by under ``setting``: always normalised with *training* statistics (a
    router knows only its training data); ties by the protocol (``first`` for fusionfactory)."""
    preset = Tradeoff.preset(check_setting(setting), check_protocol(protocol))
    return preset if preset.normalize == "none" else dataclasses.replace(preset, normalize="train")


def fitting_tradeoff(setting: str, protocol: str) -> Tradeoff:
    """The trade-off a router is fitted with: the protocol's preset (labels from train's own min-max and, under
    fusionfactory, first-in-order label ties, as ``data_processing.py`` builds them)."""
    return Tradeoff.preset(check_setting(setting), check_protocol(protocol))


@dataclass(frozen=True)
class SettingView:
    """What each (test query, candidate) cell is worth under one setting and protocol, all ``[n, k]``.

    ``perf``: the Perf column (raw performance, or perf_norm under fusionfactory); ``cost``: the Cost column
    (USD, or cost_norm; None without cost data); ``reward``: the setting's reward; ``judge``: the judge score
    (LLMScore; None outside llm_judge); ``oracle``: the per-query best candidate by true reward.
    """

    setting: str
    protocol: str
    perf: np.ndarray
    cost: np.ndarray | None
    reward: np.ndarray
    judge: np.ndarray | None
    oracle: np.ndarray
    normalisation: str

    @property
    def columns(self) -> tuple[str, ...]:
        """The Table-4 columns of this setting, in order."""
        base = ("perf", "cost", "reward")
        return ("llm_score", *base) if self.setting == "llm_judge" else base


def _scaled(tradeoff: Tradeoff, perf_weight: float, cost_weight: float) -> Tradeoff:
    return dataclasses.replace(tradeoff, perf_weight=perf_weight, cost_weight=cost_weight, objective="performance")


def setting_view(setting: str, protocol: str, test: RoutingData, train: RoutingData | None = None) -> SettingView:
    """The cell values of ``test`` under ``setting`` and ``protocol``; ``fusionbench`` needs ``train`` (its
    normalisation statistics). Raises :class:`SettingUnavailable` without the cost or judge data it needs."""
    check_setting(setting)
    protocol = check_protocol(protocol)
    reason = unavailable_reason(setting, test, *([train] if train is not None else []))
    if reason:
        raise SettingUnavailable(f"{setting}: {reason}")
    cost = test.cost if has_cost(test) else None
    use_cost = cost is not None and (train is None or has_cost(train))
    if protocol == "fusionfactory":
        base = Tradeoff.preset("balance", "fusionfactory")  # normalize="split": the test split's own min-max
        normalisation = "min-max per task over the evaluated split (FusionFactory)"
    else:
        if train is None:
            raise ValueError("the fusionbench protocol normalises with training statistics: pass train=")
        base = Tradeoff.preset("balance").fit(train.performance, train.cost if use_cost else None, train.tasks)
        normalisation = "min-max per task fitted on train"
    cost_for = cost if use_cost else None
    perf_norm = _scaled(base, 1.0, 0.0).reward(test.performance, None, test.tasks)
    cost_norm = None if cost_for is None else -_scaled(base, 0.0, 1.0).reward(test.performance, cost_for, test.tasks)
    if setting == "llm_judge":
        reward = test.judge
    else:
        a, b = Tradeoff.preset(setting).perf_weight, Tradeoff.preset(setting).cost_weight
        reward = a * perf_norm - (b * cost_norm if b else 0.0)
    if protocol == "fusionfactory":
        perf_col, cost_col = perf_norm, cost_norm
        oracle = np.asarray(reward).argmax(axis=1)
    else:
        perf_col, cost_col = test.performance, cost_for
        oracle = best_choices(reward, cost_for)
    return SettingView(
        setting=setting,
        protocol=protocol,
        perf=np.asarray(perf_col, dtype=np.float64),
        cost=None if cost_col is None else np.asarray(cost_col, dtype=np.float64),
        reward=np.asarray(reward, dtype=np.float64),
        judge=test.judge if setting == "llm_judge" else None,
        oracle=oracle,
        normalisation=normalisation,
    )


def outcome_columns(view: SettingView, choices: np.ndarray) -> dict[str, np.ndarray]:
    """Per-query values ``{column: [n]}`` of the chosen candidates (``choices``: index per query)."""
    rows = np.arange(len(choices))
    out = {"perf": view.perf[rows, choices], "reward": view.reward[rows, choices]}
    if view.cost is not None:
        out["cost"] = view.cost[rows, choices]
    if view.judge is not None:
        out["llm_score"] = view.judge[rows, choices]
    return out


def expected_columns(view: SettingView) -> dict[str, np.ndarray]:
    """Per-query expected values of a uniformly random candidate (the ``random`` baseline)."""
    out = {"perf": view.perf.mean(axis=1), "reward": view.reward.mean(axis=1)}
    if view.cost is not None:
        out["cost"] = view.cost.mean(axis=1)
    if view.judge is not None:
        out["llm_score"] = view.judge.mean(axis=1)
    return out
