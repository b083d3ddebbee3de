"""The artifact strop improves: how the classifier is built from params.json."""

import json
from pathlib import Path

from sklearn.ensemble import HistGradientBoostingClassifier


def build_model(params=None):
    if params is None:
        params = json.loads((Path(__file__).parent / "params.json").read_text())
    return HistGradientBoostingClassifier(
        learning_rate=params["learning_rate"],
        max_iter=int(params["max_iter"]),
        max_depth=int(params["max_depth"]),
        max_leaf_nodes=int(params["max_leaf_nodes"]),
        l2_regularization=params["l2_regularization"],
        early_stopping=False,
        random_state=0,
    )
