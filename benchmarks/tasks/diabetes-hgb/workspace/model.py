"""The artifact strop improves: a gradient-boosting regressor for the diabetes data, built from params.json."""

import json
from pathlib import Path

from sklearn.ensemble import HistGradientBoostingRegressor


def build_model(params=None):
    if params is None:
        params = json.loads((Path(__file__).parent / "params.json").read_text())
    return HistGradientBoostingRegressor(
        learning_rate=params["learning_rate"],
        max_iter=int(params["max_iter"]),
        max_leaf_nodes=int(params["max_leaf_nodes"]),
        min_samples_leaf=int(params["min_samples_leaf"]),
        l2_regularization=params["l2_regularization"],
        early_stopping=False,
        random_state=0,
    )
