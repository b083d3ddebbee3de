"""A competition turned into a two-stage strop task, in a working folder of its own.

    OUT/
      task.toml                 two stages; [space] of model families and hyper-parameters
      workspace/solution.py     what candidates change (and params.json, what `evolve` changes)
      public/                   fit.csv, holdout.csv (no targets), holdout_sample.csv, test.csv,
                                sample_submission.csv, description.md, mle.json
                                (or fold-0/ … fold-4/, each such a folder: see below)
      public-final/             the final phase's: the same, with every training row in fit.csv
      private/validate/         holdout_answers.csv: the held-out rows' targets, for selection
                                (or fold-0/ … fold-4/, each with its fold's)
      scorer/                   score.py and the modules it carries, the competition's grade.py

Selection never touches the competition's private answers: the public train split is cut
in two (seeded, stratified for classification), candidates fit on one part and predict the
other, and the trusted scorer grades those predictions. The task's `final_private` is the
competition's own `prepared/private`, which strop copies in only for the final phase, on
the chosen experiment: the one read of the answers in a run. That phase reads
`public-final/` (the task's `final_public`), so the chosen recipe is refitted on every
training row, the held-out ones included, as a competitor refits before submitting; if
that run gives no verdict in time, the submission.csv that the same experiment's selection run
wrote (on fit.csv, without the held-out rows; with folds, the first fold's) is graded instead,
and without one the recipe runs again as it was selected (see `evaluators.staged`).

A training set under `FOLD_ROWS` rows is cut into `FOLDS` folds instead of one holdout, and
each experiment is run and scored once per fold (the evaluator's `folds`): every training row
then judges the recipes, and still no run stage sees the targets it is scored on. A run with
a short `--time` gets fewer folds, as many as let experiment 0 run twice beside the final
refit (`timed_folds`): a submission first, then a search.

This version handles tabular competitions whose `train.csv` holds the id column and the
sample submission's prediction columns (regression, classification, binary probabilities),
or a label column whose classes are the submission's columns (a probability per class; the
held-out answers are then written one-hot, as the competition's own are).

A forecast (a date column whose test dates all come after the training dates) is split in
time instead: the holdout is the latest rows (as many as the test rows, at most a fifth).
Its final phase's fit.csv reaches the last known date, so the forecast does not have to
predict across the holdout's gap; the holdout's targets are never in an experiment's
public data, so no candidate can read its own selection answers.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.domains.mle.competition import Competition, CompetitionError, public_file
from agent.domains.mle.recipe import FORECAST_SPACE, FORECAST_START, START_PARAMS, space_for

HOLDOUT_FRACTION = 0.2
FOLD_ROWS = 1000  # below this many training rows, selection uses folds (see `fold_count`)
FOLDS = 5
FOLD_SECONDS = 7.0
"""One fold's evaluation besides its recipe's fits: a sandbox started, Python with pandas and
scikit-learn imported, the data read, the predictions scored. Measured on a 2-core machine at load
5-6: a linear recipe's run of h-prices (560 rows) took 5-7 s and its scoring 1 s; the starting
ensemble's fold 11-13 s in all (its estimate: 12 s)."""
RUN_START = 8.0
"""Seconds `strop mle run` takes before experiment 0 starts (the task written, the grader checked):
8 s at load 5-6 on 2 cores."""
REFIT = 3.0
"""The final phase's reserve in evaluations of one fold (`agent.budget.final_reserve` with a
refit), plus its second and the run's 2 s of closing."""
MIN_TRAIN_ROWS = 20
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class WorkFolder:
    """Where the task lives, and the key and direction of the metric its scorer prints."""

    root: Path
    task_file: Path
    metric_key: str
    lower_is_better: bool


@dataclass(frozen=True)
class Targets:
    """What the candidates predict: which columns, and as what."""

    columns: list[str]
    classification: bool
    probabilities: bool
    date_column: str | None = None  # set for a forecast: test dates all after the training dates
    horizon: int = 0  # a forecast's test rows
    # The submission's probability columns, one per class, when it wants them for a label column
    # of train.csv (Kaggle's usual multi-class form: train has `species`, the submission `a`, `b`…).
    classes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible endpoint for the LLM path (no key: the run reads it from `key_env`)."""

    base_url: str
    model: str
    key_env: str = "OPENAI_API_KEY"
    limits: tuple[str, ...] = ()
    """Further `[llm]` lines (`max_tokens = 1024  # from STROP_LLM_MAX_TOKENS`): a small local
    model's answer limit, window and request timeout, as `run --goal` takes them."""


def prepare_task(
    competition: Competition,
    out: Path,
    seed: int,
    experiments: int,
    llm: Endpoint | None = None,
    folds: int | None = None,
    time: float | None = None,
) -> WorkFolder:
    """Write the task folder for `competition` under `out` (new or empty); never read the answers.

    `time`: the run's `--time` in seconds; a short one cuts fewer folds than `FOLDS` (`timed_folds`)
    unless `folds` was asked for.

    With `llm`, the task proposes with that endpoint (AIDE's draft, debug and improve over
    solution.py, falling back to the recipe's `[space]` when the model writes no usable
    code) and its goal carries the description and a preview of the public rows.
    """
    import pandas as pd

    out = Path(out)
    check_out(out)
    asked_folds = folds is not None
    train_path, test_path = (
        public_file(competition.public, "train.csv"),
        public_file(competition.public, "test.csv"),
    )
    for path in (train_path, test_path):
        if not path.is_file():
            raise CompetitionError(f"{path}: missing (strop mle run needs a tabular {path.name})")
    _check_test_ids(competition, test_path)
    train = read_table(train_path, competition.id_column)
    targets = _forecast(competition, train, _targets(competition, train, train_path))
    train, unlabelled = _labelled(train, targets.columns)
    train = _test_features(train, _header(test_path), [competition.id_column, *targets.columns])
    ids = competition.id_column
    kinds = _feature_types(train, competition.id_column, targets.columns)
    folds = fold_count(_distinct_ids(train, ids, train_path), targets, llm is not None, folds)
    if time is not None and folds > 1 and not asked_folds:
        folds = timed_folds(time, fold_seconds(kinds, train, targets, folds))
    if folds > 1:
        splits = _by_id(train, ids, lambda rows: _folds(rows, targets, seed, folds))
        for k, (fit, holdout) in enumerate(splits):
            _write_split(competition, out, f"fold-{k}", fit, holdout, targets)
        fit, holdout = splits[0]
    elif targets.date_column:
        fit, holdout = _split_in_time(train, targets)
        _write_split(competition, out, "", fit, holdout, targets)
    else:
        fit, holdout = _by_id(train, ids, lambda rows: [_split(rows, targets, seed)])[0]
        _write_split(competition, out, "", fit, holdout, targets)
    every_row = pd.concat([fit, holdout])
    final_holdout = unique_ids(holdout, ids, fit[ids].dropna())
    _write_public(competition, out / "public-final", every_row, final_holdout, targets)
    key = metric_key(competition)
    _write_scorer(competition, out / "scorer", key)
    forecast = targets.date_column is not None
    _write_workspace(out / "workspace", forecast)
    task_file = out / "task.toml"
    space = space_for(kinds)
    goal = _goal(competition, unlabelled)
    if llm is not None:
        goal = _preview_goal(goal, competition, fit, targets)
    text = _task_toml(competition, key, seed, experiments, forecast, space, goal, llm, folds)
    task_file.write_text(text, encoding="utf-8")
    return WorkFolder(
        root=out, task_file=task_file, metric_key=key, lower_is_better=competition.lower_is_better
    )


def check_out(out: Path) -> None:
    """The working folder must be a folder, new or empty: a run never writes over files."""
    if out.exists() and not out.is_dir():
        raise CompetitionError(f"{out}: is a file; the working folder must be a new or empty folder")
    if out.exists() and any(out.iterdir()):
        raise CompetitionError(f"{out}: the working folder must be new or empty")


def read_table(path: Path, id_column: str, **options: Any) -> Any:
    """A competition CSV with its id column as text, so that `00240` stays `00240`, not 240.

    Any of `,`, `;`, tab or `|` separates the fields (see `submission_format.read_csv`), and a
    `.gz` or `.zip` file is read as it is. A file pandas cannot read (not UTF-8, not CSV) is one
    `CompetitionError` line naming it.
    """
    from agent.domains.mle.submission_format import read_csv

    try:
        return read_csv(path, dtype={id_column: str}, **options)
    except UnicodeDecodeError as error:
        raise CompetitionError(
            f"{path}: not UTF-8 text ({error.reason} at byte {error.start}); save it as UTF-8"
        ) from None
    except (OSError, ValueError) as error:  # pandas' ParserError and EmptyDataError are ValueErrors
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CompetitionError(f"{path}: cannot read it as CSV ({reason})") from None


def plain_csv(source: Path, target: Path) -> None:
    """`source` as a plain comma-separated `.csv` at `target`: copied when it is one already, else
    rewritten cell for cell as text (a `;`-separated or compressed file), so that solution.py, an
    LLM's code and the scorer read every public file the same way."""
    from agent.domains.mle.submission_format import delimiter, read_csv

    if source.suffix.lower() == ".csv" and delimiter(source) == ",":
        shutil.copyfile(source, target)
        return
    read_csv(source, dtype=str, keep_default_na=False).to_csv(target, index=False)


def _check_test_ids(competition: Competition, test_path: Path) -> None:
    """test.csv's ids are the sample submission's, once each: else every submission solution.py
    writes (one row per test row) is refused by the format check, and the run ends with no valid
    submission after its whole budget instead of one line now."""
    id_column = competition.id_column
    if id_column not in _header(test_path):
        raise CompetitionError(f"{test_path}: has no id column {id_column!r} (the sample submission's)")
    ids = read_table(test_path, id_column, usecols=[id_column])[id_column].fillna("")
    repeated = ids[ids.duplicated()]
    if len(repeated):
        raise CompetitionError(
            f"{test_path}: id {repeated.iloc[0]!r} appears more than once "
            f"({len(repeated)} repeated ids); a submission has one row per id"
        )
    sample = read_table(competition.sample_submission, id_column, usecols=[id_column])[id_column].fillna("")
    only = sorted(set(ids) ^ set(sample))
    if only:
        where = test_path.name if only[0] in set(ids) else competition.sample_submission.name
        raise CompetitionError(
            f"{test_path}: its ids are not the sample submission's ({len(only)} differ; "
            f"{only[0]!r} is only in {where})"
        )


def _labelled(train: Any, targets: list[str]) -> tuple[Any, int]:
    """The training rows that have every target, and how many did not.

    A row without its target can neither be fitted on nor judge a held-out prediction (the
    scorer refuses a missing answer), so it is left out of every split: no recipe, nor an
    LLM's code, has to know that some targets are missing.
    """
    keep = train[targets].notna().all(axis=1)
    return train[keep], int((~keep).sum())


def _test_features(train: Any, test_columns: list[str], keep: list[str]) -> Any:
    """Train's columns that test.csv has too, plus the id and the targets.

    A column only train.csv has (a count that adds up to the target, Kaggle's `registered`)
    cannot be a feature at test time; left in fit.csv and holdout.csv it would leak the target
    into selection, which would then choose a model that fails on the test. Dropping it here,
    not in solution.py, closes the leak for every candidate, an LLM's own code included.
    """
    wanted = set(test_columns) | set(keep)
    return train[[column for column in train.columns if column in wanted]]


def _targets(competition: Competition, train: Any, train_path: Path) -> Targets:
    columns = [column for column in competition.columns if column != competition.id_column]
    missing = [column for column in [competition.id_column, *columns] if column not in train.columns]
    label = (
        _label_column(competition, train, columns)
        if missing and missing[0] != competition.id_column
        else None
    )
    if label is not None:
        _check_rows(train, [label], train_path)
        return Targets(columns=[label], classification=True, probabilities=True, classes=tuple(columns))
    if missing:
        raise CompetitionError(
            f"{train_path}: has no column {missing[0]!r}; strop mle run needs the id column and "
            "the sample submission's prediction columns in train.csv"
        )
    kind = competition.metric.kind if competition.metric else None
    classification = kind in ("labels", "probabilities") or (
        kind is None and _looks_categorical(train[columns])
    )
    probabilities = kind == "probabilities"
    _check_rows(train, columns, train_path)
    if probabilities and any(train[column].nunique() != 2 for column in columns):
        raise CompetitionError(f"{train_path}: a probability metric needs binary targets here")
    if kind == "values":
        _check_numbers(train, columns, train_path, competition.metric_name)
    return Targets(columns=columns, classification=classification, probabilities=probabilities)


def _check_rows(train: Any, columns: list[str], train_path: Path) -> None:
    """At least `MIN_TRAIN_ROWS` rows with every target: only those are fitted on and judged (see
    `_labelled`), and 5 folds of 3 rows cannot be cut."""
    labelled = int(train[columns].notna().all(axis=1).sum())
    if labelled >= MIN_TRAIN_ROWS:
        return
    without = f" with a target ({len(train) - labelled} without)" if labelled < len(train) else ""
    raise CompetitionError(f"{train_path}: {labelled} rows{without}; at least {MIN_TRAIN_ROWS} are needed")


def _check_numbers(train: Any, columns: list[str], train_path: Path, metric: str) -> None:
    """A metric of values (rmse, mae…) needs numeric targets: a text one would make every experiment
    fail on `could not convert`, after the whole budget, instead of this one line now."""
    import pandas as pd

    for column in columns:
        given = train[column].dropna()
        numbers = pd.to_numeric(given, errors="coerce")
        if numbers.isna().any():
            first = given[numbers.isna()].iloc[0]
            raise CompetitionError(
                f"{train_path}: target {column!r} holds {first!r}, not a number; metric {metric} needs numbers"
            )


def _label_column(competition: Competition, train: Any, columns: list[str]) -> str | None:
    """The train column whose classes are the submission's probability columns, if there is one.

    It is a column of train.csv that test.csv lacks, whose values, as text, are all among the
    submission's columns (a class absent from train still gets its column, with probability 0),
    for a probability metric or a competition's own grader.
    """
    from agent.domains.mle.solution import class_name

    kind = competition.metric.kind if competition.metric else None
    if kind not in (None, "probabilities") or len(columns) < 2:
        return None
    test_columns = set(_header(public_file(competition.public, "test.csv")))
    wanted = set(columns)
    for column in train.columns:
        if column == competition.id_column or column in test_columns:
            continue
        values = {class_name(value) for value in train[column].dropna().unique()}
        if len(values) >= 2 and values <= wanted and train[column].notna().all():
            return str(column)
    return None


def _header(path: Path) -> list[str]:
    return list(read_table(path, "", nrows=0).columns) if path.is_file() else []


def _feature_types(train: Any, id_column: str, targets: list[str]) -> Any:
    """How solution.py will type the feature columns (numbers, categories, text, dates, a series)."""
    from agent.domains.mle.solution import column_types

    return column_types(train.drop(columns=[id_column, *targets]))


def _forecast(competition: Competition, train: Any, targets: Targets) -> Targets:
    """Targets with `date_column` set when test.csv's dates all come after train.csv's."""
    import pandas as pd

    test_path = public_file(competition.public, "test.csv")
    if targets.classification or not test_path.is_file():
        return targets
    test = read_table(test_path, competition.id_column, nrows=100_000)
    for column in train.columns:
        if column not in test.columns or pd.api.types.is_numeric_dtype(train[column]):
            continue
        seen = pd.to_datetime(train[column], errors="coerce", format="ISO8601")
        ahead = pd.to_datetime(test[column], errors="coerce", format="ISO8601")
        if seen.notna().all() and ahead.notna().all() and ahead.min() > seen.max():
            return Targets(targets.columns, targets.classification, targets.probabilities, column, len(test))
    return targets


def fold_count(rows: int, targets: Targets, llm: bool, asked: int | None = None) -> int:
    """How many folds select (`asked`, or by default `FOLDS` for a small training set, else one holdout).

    A fifth of a small train split is a noisy judge: on 105 rows the holdout has 21, one row is
    4.8 accuracy points, and a search of a hundred recipes finds some that are lucky on those
    rows (strop-arrowhead, 10 minutes: seed 0 kept the starting recipe, 86.8% on the test; seed 1
    chose one of 24 recipes tied at 19 of 21, 76.4% on the test). Folds score every row, at `FOLDS`
    times the cost, which small data can afford. A forecast keeps its one holdout in time. An
    LLM run does too: the LLM reads run output, and with folds every target is in some fold's
    fit rows (see `evaluators.spec`).
    """
    if targets.date_column and (asked or 1) > 1:
        raise CompetitionError("a forecast selects on its latest rows, in time: --folds does not apply")
    if asked is not None:
        if asked > 1 and rows < 2 * asked:
            raise CompetitionError(f"{rows} training rows cannot make {asked} folds")
        return asked
    if targets.date_column or llm or rows >= FOLD_ROWS:
        return 1
    return FOLDS


def fold_seconds(columns: Any, train: Any, targets: Targets, folds: int) -> float:
    """What one fold of experiment 0 (the starting recipe) is expected to take: `FOLD_SECONDS`
    and the recipe's fits by solution.py's cost model (`recipe_seconds`) on a fold's fit rows."""
    from agent.domains.mle.solution import TEXT_DIMENSIONS, recipe_seconds

    features = len(columns.numeric) + len(columns.categorical) + TEXT_DIMENSIONS * len(columns.text)
    classes = 1
    if targets.classification:
        classes = max(int(train[column].nunique()) for column in targets.columns)
    rows = len(train) - len(train) // folds
    return FOLD_SECONDS + len(targets.columns) * recipe_seconds(START_PARAMS, rows, features, classes)


def timed_folds(time: float, each: float) -> int:
    """The most folds, up to `FOLDS`, with which experiment 0 fits twice in a run of `time` seconds
    beside the start-up and the final phase's reserve, `each` seconds a fold; else 1 (one holdout).

    The run loop starts an experiment only when the time left is at least the recent median
    evaluation, and before the second that is experiment 0's: with 5 folds on a small
    competition (h-prices, 700 rows: 10-13 s a fold on a busy 2-core machine) `--time 1m` cut
    experiment 0 on its fifth fold and ended with no submission, and `--time 2m` stopped after
    it with 40% of the time unused. With fewer folds experiment 0 leaves time for the search
    and the final refit; a longer `--time` keeps every fold (selection on every training row).
    """
    for folds in range(FOLDS, 1, -1):
        if RUN_START + (2 * folds + REFIT) * each + 1.0 + 2.0 <= time:
            return folds
    return 1


def _folds(train: Any, targets: Targets, seed: int, folds: int) -> list[tuple[Any, Any]]:
    """Seeded (fit, holdout) pairs whose holdouts cover train once, stratified where classes allow."""
    from sklearn.model_selection import KFold, StratifiedKFold

    labels = None
    if targets.classification and len(targets.columns) == 1:
        counts = train[targets.columns[0]].value_counts()
        if counts.min() >= folds:
            labels = train[targets.columns[0]]
    splitter = (StratifiedKFold if labels is not None else KFold)(folds, shuffle=True, random_state=seed)
    return [(train.iloc[a], train.iloc[b]) for a, b in splitter.split(train, labels)]


def _by_id(train: Any, id_column: str, split: Any) -> list[tuple[Any, Any]]:
    """`split`'s (fit, holdout) pairs, cut so that the rows of one id are all on the same side.

    MLE-bench's train.csv may name an id more than once (a row repeated, or several rows of one
    id); test.csv never does. Cut row by row, a repeated row would be in fit.csv and, with its
    target, among the rows that judge it, and selection would reward memorising. So `split` is
    given one row per id, and every row follows its id. With ids once each this is `split(train)`.
    """
    first = ~train[id_column].duplicated()
    if first.all():
        return list(split(train))
    groups = train[id_column].fillna("")
    pairs = []
    for _fit, holdout in split(train[first]):
        held = groups.isin(set(holdout[id_column].fillna("")))
        pairs.append((train[~held], train[held]))
    return pairs


def _distinct_ids(train: Any, id_column: str, train_path: Path) -> int:
    """How many ids the labelled rows have: the units that `_by_id` splits, at least `MIN_TRAIN_ROWS`."""
    count = int(train[id_column].fillna("").nunique())
    if count < MIN_TRAIN_ROWS:
        raise CompetitionError(
            f"{train_path}: its {len(train)} rows with a target have {count} distinct ids "
            f"({id_column!r}); at least {MIN_TRAIN_ROWS} are needed, as rows of one id are held out together"
        )
    return count


def unique_ids(holdout: Any, id_column: str, others: Any = ()) -> Any:
    """The holdout with an id of its own for each repeat of a repeated id.

    Its predictions are graded as a submission is, one row per id (`compare_with_sample`), and a
    grade.py merges them with the answers on the id: with `000027` twice, every experiment was
    refused. Repeats get new ids that neither the holdout nor `others` (fit.csv's) has: digits
    past the largest when the ids are digits (a grader may read them as numbers), else `<id>~2`,
    `<id>~3`…; the id is not a feature (solution.py drops it).
    """
    ids = holdout[id_column].fillna("").astype(str)
    repeated = ids.duplicated()
    if not repeated.any():
        return holdout
    taken = set(ids) | {str(value) for value in others}
    fresh: list[str] = []
    if all(value.isdigit() for value in taken):
        width, after = max(map(len, taken)), max(int(value) for value in taken)
        fresh = [str(after + n).zfill(width) for n in range(1, int(repeated.sum()) + 1)]
    else:
        seen: dict[str, int] = {}
        for value in ids[repeated]:
            n = seen.get(value, 1)
            while f"{value}~{n + 1}" in taken:
                n += 1
            seen[value] = n + 1
            fresh.append(f"{value}~{n + 1}")
            taken.add(fresh[-1])
    ids[repeated] = fresh
    return holdout.assign(**{id_column: ids.to_numpy()})


def _write_split(
    competition: Competition, out: Path, fold: str, fit: Any, holdout: Any, targets: Targets
) -> None:
    """One selection split: its public data, and its held-out targets where only the scorer reads them."""
    holdout = unique_ids(holdout, competition.id_column, fit[competition.id_column].dropna())
    _write_public(competition, out / "public" / fold, fit, holdout, targets)
    answers = out / "private" / "validate" / fold
    answers.mkdir(parents=True)
    held = holdout[[competition.id_column, *targets.columns]]
    if targets.classes:  # as the competition writes its answers: a column per class, 1 for the row's
        from agent.domains.mle.solution import class_name

        label = holdout[targets.columns[0]].map(class_name)
        ones = {name: (label == name).astype(int) for name in targets.classes}
        held = holdout[[competition.id_column]].assign(**ones)
    held.to_csv(answers / "holdout_answers.csv", index=False)


def _split_in_time(train: Any, targets: Targets) -> tuple[Any, Any]:
    """The latest rows are the holdout: as many as the test rows, at most a fifth of train."""
    import pandas as pd

    assert targets.date_column is not None
    ordered = train.assign(_when=pd.to_datetime(train[targets.date_column], format="ISO8601"))
    ordered = ordered.sort_values("_when", kind="stable").drop(columns="_when")
    size = max(1, min(targets.horizon, int(len(ordered) * HOLDOUT_FRACTION)))
    return ordered.iloc[:-size], ordered.iloc[-size:]


def _looks_categorical(frame: Any) -> bool:
    """A custom grader's targets are classes when they are text or few distinct integers."""
    import pandas as pd

    for column in frame.columns:
        values = frame[column]
        if not pd.api.types.is_numeric_dtype(values):  # text (object or pandas' string dtype)
            return True
        if values.nunique() > 20 or (values.dropna() % 1 != 0).any():
            return False
    return True


def _split(train: Any, targets: Targets, seed: int) -> tuple[Any, Any]:
    """A seeded holdout of the train split, stratified when every class can be split."""
    from sklearn.model_selection import train_test_split

    stratify = None
    if targets.classification and len(targets.columns) == 1:
        counts = train[targets.columns[0]].value_counts()
        if counts.min() >= 2 and len(counts) <= len(train) * HOLDOUT_FRACTION:
            stratify = train[targets.columns[0]]
    fit, holdout = train_test_split(train, test_size=HOLDOUT_FRACTION, random_state=seed, stratify=stratify)
    return fit, holdout


def _write_public(competition: Competition, public: Path, fit: Any, holdout: Any, targets: Targets) -> None:
    public.mkdir(parents=True)
    fit.to_csv(public / "fit.csv", index=False)
    holdout.drop(columns=targets.columns).to_csv(public / "holdout.csv", index=False)
    placeholder = holdout[[competition.id_column]].copy()
    for column in targets.classes or targets.columns:
        placeholder[column] = 0
    placeholder.to_csv(public / "holdout_sample.csv", index=False)
    test = public_file(competition.public, "test.csv")
    if not test.is_file():
        raise CompetitionError(f"{test}: missing (strop mle run needs a tabular test.csv)")
    plain_csv(test, public / "test.csv")
    plain_csv(competition.sample_submission, public / "sample_submission.csv")
    shutil.copyfile(competition.description, public / "description.md")
    spec = {
        "id_column": competition.id_column,
        "targets": targets.columns,
        "classification": targets.classification,
        "probabilities": targets.probabilities,
        "classes": list(targets.classes),
        "metric": competition.metric_name,
        "forecast": targets.date_column is not None,
    }
    (public / "mle.json").write_text(json.dumps(spec, indent=2), encoding="utf-8")


def competition_of(task_file: Path) -> Path | None:
    """The competition folder a task written by `strop mle run` came from; None for other tasks.

    Its `final_private` is the competition's `prepared/private` (see `load_competition`), so
    `strop resume` can grade a resumed competition run as `strop mle run` would have.
    """
    import tomllib

    folder = Path(task_file).parent
    if not (folder / "public-final" / "mle.json").is_file():
        return None
    try:
        private = tomllib.loads(Path(task_file).read_text(encoding="utf-8"))["evaluator"]["final_private"]
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, RecursionError, MemoryError):
        return None
    return Path(private).parent.parent if isinstance(private, str) and private else None


def work_folder(competition: Competition, out: Path) -> WorkFolder:
    """The task that `prepare_task` wrote earlier under `out`, checked to be `competition`'s.

    A nightly job keeps one working folder, so that tonight's run can start from last
    night's best commit in the same experiment repo.
    """
    import tomllib

    task_file = Path(out) / "task.toml"
    try:
        name = tomllib.loads(task_file.read_text(encoding="utf-8"))["task"]["name"]
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, RecursionError, MemoryError):
        raise CompetitionError(f"{task_file}: not a task written by `strop mle run`") from None
    if name != _task_name(competition):
        raise CompetitionError(f"{out}: holds the task of another competition ({name})")
    return WorkFolder(
        root=Path(out),
        task_file=task_file,
        metric_key=metric_key(competition),
        lower_is_better=competition.lower_is_better,
    )


def _task_name(competition: Competition) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "-" for c in f"mle-{competition.id}")


def metric_key(competition: Competition) -> str:
    """The key the scorer prints: the metric's name, made a plain identifier."""
    from agent.domains.mle.metrics import normalise

    key = "".join(c if c.isalnum() or c == "_" else "_" for c in normalise(competition.metric_name))
    return key or "score"


def _write_scorer(competition: Competition, scorer: Path, key: str) -> None:
    scorer.mkdir(parents=True)
    shutil.copyfile(HERE / "scorer.py", scorer / "score.py")
    for module in ("metrics.py", "submission_format.py"):
        shutil.copyfile(HERE / module, scorer / module)
    grade_file = None
    if competition.grade_file is not None:
        grade_file = "competition_grade.py"
        shutil.copyfile(competition.grade_file, scorer / grade_file)
    try:
        answers = competition.answers.resolve().relative_to(competition.private.resolve())
    except ValueError:
        raise CompetitionError(
            f"{competition.answers}: strop mle run needs the answers in prepared/private"
        ) from None
    config = {
        "metric": competition.metric_name,
        "metric_key": key,
        "id_column": competition.id_column,
        "grade_file": grade_file,
        "sample": "sample_submission.csv",
        "phases": {
            "validate": {
                "predictions": "holdout.csv",
                "sample": "holdout_sample.csv",
                "answers": "holdout_answers.csv",
            },
            "final": {
                "predictions": "submission.csv",
                "sample": "sample_submission.csv",
                "answers": str(answers),
            },
        },
    }
    (scorer / "scoring.json").write_text(json.dumps(config, indent=2), encoding="utf-8")


def _write_workspace(workspace: Path, forecast: bool) -> None:
    workspace.mkdir(parents=True)
    shutil.copyfile(HERE / "solution.py", workspace / "solution.py")
    shutil.copyfile(HERE / "metrics.py", workspace / "metrics.py")  # the metric by name, for cross-validation
    params = {**START_PARAMS, **FORECAST_START} if forecast else START_PARAMS
    (workspace / "params.json").write_text(json.dumps(params, indent=2) + "\n", encoding="utf-8")


def _task_toml(
    competition: Competition,
    key: str,
    seed: int,
    experiments: int,
    forecast: bool,
    space: str,
    goal: str,
    llm: Endpoint | None,
    folds: int = 1,
) -> str:
    direction = "minimize" if competition.lower_is_better else "maximize"
    name = _task_name(competition)
    return f"""\
# Written by `strop mle run` from {json.dumps(str(competition.root.resolve()))[1:-1]}.
[task]
name = {json.dumps(name)}
goal = {json.dumps(goal)}
workspace = "workspace"

[evaluator]
run = "python solution.py"
score = "python -I score.py"
scorer = "scorer"
public = "public"
private = "private/validate"
final_private = {json.dumps(str(competition.private.resolve()))}
# The chosen experiment is graded after a refit on every training row (fit.csv here has them all).
final_public = "public-final"{_folds_line(folds)}
expects = "holdout.csv and submission.csv in $STROP_OUTPUTS, each in sample_submission.csv's format (ids of holdout.csv and test.csv)"
metric = {json.dumps(key)}
direction = "{direction}"
timeout = "120s"
score_timeout = "60s"
memory = "2g"
env = {{ OMP_NUM_THREADS = "1" }}

[budget]
experiments = {experiments}

[proposer]
kind = "{"llm" if llm else "evolve"}"
params_file = "params.json"

[search]
seed = {seed}
# Recipes differ tenfold in time (a linear model against boosted trees): with `--parallel`,
# a lane goes on as soon as its evaluation ends instead of waiting for the other's.
schedule = "async"

# Lessons need the embedding model (20-30 s to load on a busy 2-core machine), which the
# offline proposer does not read: a short competition budget is better spent on experiments.
[knowledge]
memory = false

[space]
{space}{FORECAST_SPACE if forecast else ""}{_llm_table(llm) if llm else ""}"""


def _folds_line(folds: int) -> str:
    if folds <= 1:
        return ""
    return (
        "\n# Selection: both stages once per fold (public/fold-N, private/validate/fold-N), the folds' mean."
        f"\nfolds = {folds}"
    )


def _goal(competition: Competition, unlabelled: int = 0) -> str:
    """The task's goal; it says how many training rows had no target, since they were left out."""
    direction = "Minimise" if competition.lower_is_better else "Maximise"
    dropped = f" {unlabelled} training rows without a target were left out." if unlabelled else ""
    return (
        f"{direction} {competition.metric_name} on {competition.name}"
        " (held-out rows of train for selection; the hidden test once, at the end)." + dropped
    )


def _preview_goal(goal: str, competition: Competition, fit: Any, targets: Targets) -> str:
    """An LLM run's goal: the plain one, then the description and a preview of the public rows."""
    from agent.domains.mle.preview import goal_with_preview

    description = competition.description.read_text(encoding="utf-8", errors="replace")
    return goal_with_preview(goal, description, fit, targets.columns, competition.id_column)


def _llm_table(llm: Endpoint) -> str:
    return (
        "\n[llm]  # the key, if any, is read from the environment variable named here, never stored\n"
        f"base_url = {json.dumps(llm.base_url)}\n"
        f"model = {json.dumps(llm.model)}\n"
        f"api_key_env = {json.dumps(llm.key_env)}\n" + "".join(f"{line}\n" for line in llm.limits)
    )
