"""Which way a metric is better, as its name (and a goal's words) say: `val_loss` lower, `f1` higher.

`strop init --metric seconds --goal "make bench.py faster"` once wrote `direction = "maximize"`
without a word, and the run then searched for the slowest code. A name is read word-wise
(`val_loss`, `runtimeSeconds`, `p95_latency_ms` → their words), the last word that decides
wins (English compounds put the head last: `error_count` is an error, `r2_score` a score):

- a word of a lower-is-better quantity (loss, error, rmse, time, latency, cost, memory, …)
  or of a higher-is-better one (accuracy, auc, f1, score, recall, throughput, reward, …);
- else a rate: a count per unit of time (`tokens_per_second`, `items_s`) is higher-is-better;
- else a unit alone (`_s`, `_ms`, `_mb`) is lower-is-better (`runtime_s`, `peak_mb`);
- `neg`/`negative` turns it round (scikit-learn's `neg_mean_squared_error` is maximised).

A goal decides only when the name does not, and only when its words agree (faster, lower,
reduce, minimise; higher, raise, increase, maximise). Nothing here is more than a guess:
callers say which they chose and why, and how to choose the other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MINIMIZE, MAXIMIZE = "minimize", "maximize"


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


_LOWER = _wordset(
    """loss losses error errors err rmse mse mae mape smape rmsle msle nll logloss perplexity ppl wer cer
    time times runtime walltime duration latency latencies elapsed delay lag wait overhead cost costs
    price spend regret distance dist size memory mem rss footprint penalty violations miss misses
    failures failed fail faults bugs crashes energy power joules watts makespan tardiness brier fid kl
    divergence residual residuals deviation drift jitter bloat cycles stalls retries timeouts"""
)
_HIGHER = _wordset(
    """accuracy acc auc auroc auprc roc f1 f2 fscore fbeta score scores recall precision map ndcg mrr bleu
    rouge meteor chrf r2 throughput qps rps fps tps iops speed speedup reward rewards return returns profit
    gain gains hit hits coverage iou miou dice psnr ssim kappa mcc correlation corr spearman pearson
    likelihood elo win wins winrate success successes yield efficiency utilization utilisation sharpe top1
    top5 medal medals passed compression savings bandwidth goodput uptime availability quality"""
)
_TIME_UNITS = _wordset("s sec secs second seconds ms msec us usec ns min mins minute minutes hr hour hours")
_SIZE_UNITS = _wordset("kb mb gb kib mib gib bytes")
_NEGATIVE = frozenset({"neg", "negative"})
_TURNED = _wordset(
    "saved saving reduction reductions drop drops decrease decline degradation"
)  # `time_saved` is higher-is-better, `accuracy_drop` lower: the change of a quantity, turned round
_BETTER = _wordset("improvement improvements")  # `loss_improvement`: higher-is-better, whatever improved
_GOAL_LOWER = re.compile(
    r"\b(faster|quicker|speed\s+up|lower|smaller|reduce[sd]?|reducing|decrease[sd]?|minimi[sz]e[sd]?|"
    r"shrink|less|fewer|cheaper|shorter|lighter|leaner)\b",
    re.IGNORECASE,
)
_GOAL_HIGHER = re.compile(
    r"\b(higher|raise[sd]?|increase[sd]?|maximi[sz]e[sd]?|boost|larger|bigger)\b", re.IGNORECASE
)


@dataclass(frozen=True)
class Guess:
    """A direction and the words that gave it, to be said to the user."""

    direction: str
    reason: str

    @property
    def short(self) -> str:
        return "min" if self.direction == MINIMIZE else "max"


def words(name: str) -> list[str]:
    """`val_loss` → val, loss; `runtimeSeconds` → runtime, seconds; `p95-latency.ms` → p95, latency, ms."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    return [word.lower() for word in re.split(r"[^A-Za-z0-9]+", spaced) if word]


def from_metric(metric: str) -> Guess | None:
    """The direction the metric's name reads as, if any of its words decides.

    No guess for a name relating two quantities (`time_to_accuracy`, `mean_time_to_failure`,
    `loss_vs_baseline`): which one is measured is a matter of sense, not of words.
    """
    named = words(metric)
    if {"to", "vs", "versus", "over", "until", "between"} & set(named):
        return None
    if better := sorted(_BETTER & set(named)):
        return Guess(MAXIMIZE, f"the metric name `{metric}` reads as higher-is-better (`{better[0]}`)")
    found = _by_words(named)
    if found is None:
        return None
    direction, why = found
    if turned := sorted((_NEGATIVE | _TURNED) & set(named)):
        direction = MAXIMIZE if direction == MINIMIZE else MINIMIZE
        why += f", turned round by `{turned[0]}`"
    better = "lower" if direction == MINIMIZE else "higher"
    return Guess(direction, f"the metric name `{metric}` reads as {better}-is-better ({why})")


def from_goal(goal: str) -> Guess | None:
    """The direction the goal's words ask for, when they all ask for the same one."""
    lower, higher = _GOAL_LOWER.search(goal), _GOAL_HIGHER.search(goal)
    if bool(lower) == bool(higher):
        return None
    word = (lower or higher).group(0)  # type: ignore[union-attr]
    return Guess(MINIMIZE if lower else MAXIMIZE, f"the goal says `{word}`")


def guess(metric: str, goal: str = "") -> Guess | None:
    """The metric's name first (it names the quantity), then the goal's words."""
    return from_metric(metric) or from_goal(goal)


def chosen(given: str | None, metric: str, goal: str) -> tuple[str, str | None]:
    """The `--direction` word to use (`min`/`max`) and, when the user gave none, a note saying why.

    The note names the words that decided and the flag that chooses the other way: a
    guess said aloud costs a line, a silent `maximize` cost a whole run.
    """
    if given:
        return given, None
    found = guess(metric, goal)
    if found is None:
        shown = f"the metric name `{metric}`" if metric else "the metric name"
        return "max", (
            f'direction = "maximize" (the default: neither {shown} nor the goal says which way is '
            "better); pass --direction min if lower is better"
        )
    other = "max" if found.short == "min" else "min"
    return found.short, (
        f'direction = "{found.direction}": {found.reason}; pass --direction {other} if it is the other way'
    )


def _by_words(all_words: list[str]) -> tuple[str, str] | None:
    head = all_words[: all_words.index("per")] if "per" in all_words else all_words
    for word in reversed(head):
        if word in _LOWER:
            return MINIMIZE, f"`{word}`"
        if word in _HIGHER:
            return MAXIMIZE, f"`{word}`"
    if (unit := _rate(all_words)) is not None:
        return MAXIMIZE, f"a rate, per `{unit}`"
    for word in reversed(all_words):
        if word in _TIME_UNITS or word in _SIZE_UNITS:
            return MINIMIZE, f"`{word}`"
    return None


def _rate(all_words: list[str]) -> str | None:
    """The time unit of a count per unit of time (`items_per_second`, `tokens_s`), if it is one."""
    if "per" in all_words:
        after = all_words[all_words.index("per") + 1 :]
        return after[0] if after and after[0] in _TIME_UNITS else None
    for count, unit in zip(all_words, all_words[1:], strict=False):
        plural = count.endswith("s") and not count.endswith(("ss", "us", "is")) and len(count) > 2
        sized = count in _SIZE_UNITS  # `mb_s`: megabytes a second
        if unit in _TIME_UNITS and (plural or sized) and count not in _TIME_UNITS:
            return unit
    return None
