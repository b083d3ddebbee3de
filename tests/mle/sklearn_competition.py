"""A competition in MLE-bench's exact layout, built from a data set that scikit-learn ships.

Rows are shuffled (seeded) and given opaque ids; 70% become the public train split, the
rest the test split whose answers go to `prepared/private/test.csv`. The leaderboard is a
made-up but plausible spread of 40 scores (accuracy or AUC from 1.0 down to 0.6; an error
from 40 up to 80), so medals mean something in the tests. Data sets: wine (3 classes),
breast_cancer (binary), diabetes (regression).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def write_sklearn_competition(
    root: Path, dataset: str = "wine", metric: str = "accuracy", seed: int = 0, class_columns: bool = False
) -> Path:
    """With `class_columns` (classification), Kaggle's multi-class form: train.csv has the label
    (`cultivar`, the class names), the submission and the answers one probability column per class."""
    from sklearn import datasets

    loader = {
        "wine": datasets.load_wine,
        "breast_cancer": datasets.load_breast_cancer,
        "diabetes": datasets.load_diabetes,
    }[dataset]
    data = loader()
    order = np.random.default_rng(seed).permutation(len(data.target))
    features = pd.DataFrame(data.data[order], columns=[f"f{i}" for i in range(data.data.shape[1])])
    frame = pd.concat(
        [pd.DataFrame({"id": [f"r{n:04d}" for n in range(len(order))]}), features.round(4)], axis=1
    )
    frame["target"] = data.target[order]
    cut = int(len(frame) * 0.7)
    train, test = frame.iloc[:cut], frame.iloc[cut:]
    public, private = root / "prepared" / "public", root / "prepared" / "private"
    public.mkdir(parents=True)
    private.mkdir(parents=True)
    test.drop(columns=["target"]).to_csv(public / "test.csv", index=False)
    if class_columns:
        names = [str(name) for name in data.target_names]
        train = train.assign(cultivar=[names[k] for k in train.pop("target")])
        sample = test[["id"]].assign(**{name: 1 / len(names) for name in names})
        answers = test[["id"]].assign(
            **{name: (test.target == k).astype(int) for k, name in enumerate(names)}
        )
    else:
        sample = test[["id"]].assign(target=int(train.target.iloc[0]))
        answers = test[["id", "target"]]
    train.to_csv(public / "train.csv", index=False)
    sample.to_csv(public / "sample_submission.csv", index=False)
    answers.to_csv(private / "test.csv", index=False)
    competition_id = f"sk-{dataset}"
    (root / "config.yaml").write_text(
        f"id: {competition_id}\nname: scikit-learn {dataset}\ncompetition_type: simple\n"
        f"awards_medals: true\ndescription: description.md\n"
        f"dataset:\n  answers: {competition_id}/prepared/private/test.csv\n"
        f"  sample_submission: {competition_id}/prepared/public/sample_submission.csv\n"
        f"grader:\n  name: {metric}\n",
        encoding="utf-8",
    )
    (root / "description.md").write_text(
        f"# {dataset}\nPredict `target` for each row of test.csv; submit id,target.\n", encoding="utf-8"
    )
    lower_is_better = metric in ("rmse", "mae", "logloss")
    scores = np.linspace(40.0, 80.0, 40) if lower_is_better else np.linspace(1.0, 0.6, 40)  # best first
    pd.DataFrame({"teamName": [f"team{n}" for n in range(40)], "score": scores.round(5)}).to_csv(
        root / "leaderboard.csv", index=False
    )
    return root
